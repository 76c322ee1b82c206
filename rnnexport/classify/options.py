"""What a classify request says, as given: where to read and write, which model and runtime, the options of the
reading, the model calls and the output, and which engine. Nothing here is checked yet: plan.py does that, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io.csv.records import DEFAULT_CHUNK_ROWS
from ..runtimes.prefix import DEFAULT_BLOCK_SIZE
from ..verification.parity import Tolerance

DEFAULT_BATCH_SIZE = 512  # measured best for the ONNX Scan on 2 cores (fits in L2)
DEFAULT_BLOCKSIZE = "16MB"  # the dask engine's most bytes per partition
ENGINES = ("local", "dask")


@dataclass(frozen=True)
class ClassifyOptions:
    """``encoding`` None: a BOM's, else UTF-8; ``delimiter`` None: an Excel ``sep=X`` line, else detected from the
    header line; ``header`` False: no header line (the name is column 1 unless ``column`` gives a number)."""

    column: str | None = None
    top_k: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    encoding: str | None = None
    strict: bool = False
    delimiter: str | None = None
    header: bool = True
    prefix_sharing: bool = True  # each distinct name once, each distinct prefix once (runtimes/prefix.py)
    block_size: int = DEFAULT_BLOCK_SIZE  # sorted distinct names per trie
    input_format: str | None = None  # 'csv', 'parquet'; None: by the file (formats.input_format)
    output_format: str | None = None  # 'csv', 'parquet'; None: by the file name (formats.output_format)


@dataclass(frozen=True)
class DaskOptions:
    """How the dask engine runs (see dask_engine.run_dask): ``scheduler`` None starts a LocalCluster of ``workers``
    processes; ``blocksize``: the most bytes per partition ('16MB', '64MiB' or a number)."""

    scheduler: str | None = None
    blocksize: str | int = DEFAULT_BLOCKSIZE
    workers: int | None = None


@dataclass(frozen=True)
class ClassifyRequest:
    """Everything ``rnnexport classify`` takes: where, which runtime, and how (plan.plan_classify checks it).
    ``model_dir`` may be None when the plan is given an opened runtime instead."""

    input_path: str
    output_path: str
    model_dir: Path | None
    options: ClassifyOptions = ClassifyOptions()
    runtime: str = "onnx"  # a key of runtimes.RUNTIME_ARTIFACTS (or 'onnx' with onnx_graph 'cell')
    onnx_graph: str = "sequence"
    threads: int | None = None  # model threads; None: every core
    check: Tolerance | None = None  # also run eager PyTorch on every row and hold the runtime to this rule
    verify_hash: bool = True
    device: str = "cpu"
    engine: str = "local"
    dask: DaskOptions = DaskOptions()
    manifest_pin: str | None = None  # --expect-manifest-sha256: the model folder's manifest must hash to this
