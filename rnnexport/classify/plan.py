"""A classify request checked once, into one plan, before any engine runs; the local and the Dask engine both
run a plan, over the same stages.

The checks, in this order: options that contradict the engine (--engine dask with --device cuda, --check or
stdin/stdout; --workers with a scheduler's address), the manifest pin, -o (io.outputs.check_output_file: not a
folder, writable, not the input, standard input or a model file); then what the
engine needs, loaded and checked: the local engine's runtime (and, with --check, the float64 reference); the
Dask engine's scheduler, input file, the artifact's bytes and labels (read on the driver) and --blocksize; last,
--top-k against the model's labels, and --coverage against the thresholds in the model's manifest.json. An
option's bad value is an OptionError (exit status 2 in the CLI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError, OptionError, RnnExportError
from ..io.outputs import check_output_file
from ..model.manifest import check_pin, model_inputs
from ..runtimes.base import Runtime
from ..runtimes.registry import TORCH_RUNTIMES, open_reference, open_runtime, runtime_name
from ..runtimes.torch_runtimes import use_one_intra_op_thread
from ..verification.parity import Tolerance
from .answer_columns import model_answer_rule
from .model_source import model_files, model_vocabulary
from .options import ClassifyOptions, ClassifyRequest

IN_PROCESS_SCHEDULERS = ("threads", "synchronous", "sync")
NETWORK_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")


@dataclass(frozen=True)
class DaskPlan:
    """How the Dask engine runs: ``scheduler`` (None: a LocalCluster of ``workers`` processes), ``block_bytes``
    per partition, and the model as workers receive it: ``files`` (the artifact, its prefix files and
    manifest.json, as bytes checked on the driver), ``digest`` (the artifact's SHA-256) and ``model_dir`` (where
    in-process schedulers load it from)."""

    scheduler: str | None
    block_bytes: int
    workers: int | None
    files: dict[str, bytes]
    digest: str
    model_dir: Path


@dataclass(frozen=True)
class ClassifyPlan:
    """A classify request, checked: read ``input_path`` and write ``output_path`` with ``options`` (--top-k within
    the model's ``labels``), names folded to the model's ``alphabet``. The local engine runs ``runtime`` (opened)
    and, with --check, ``reference`` (eager float64) held to ``tolerance``; the Dask engine (``dask`` set) has its
    workers open the runtime called ``runtime_name``."""

    input_path: str
    output_path: str
    options: ClassifyOptions
    labels: list[str]
    alphabet: str
    runtime_name: str
    verify_hash: bool = True
    runtime: Runtime | None = None
    reference: Runtime | None = None
    tolerance: Tolerance | None = None
    dask: DaskPlan | None = None


def plan_classify(request: ClassifyRequest, runtime: Runtime | None = None, reference: Runtime | None = None
                  ) -> ClassifyPlan:  # fmt: skip
    """Check ``request`` and load what its engine needs, in the order of this module's docstring. ``runtime``:
    an opened runtime for the local engine instead of ``request.runtime`` from ``request.model_dir`` (benchmark
    baselines, tests); ``reference``: the opened reference of ``request.check``.

    Raises OptionError (a bad option, or options that contradict each other), InputError (-o names the input
    or a model file, or a folder; OutputError: a file the user may not write;
    Dask: an input that is not a regular file, an unknown runtime), ArtifactError/CheckpointError (the model),
    RnnExportError (Dask is not installed).
    """
    check_engine_options(request)
    check_pin(request.model_dir, request.manifest_pin, request.verify_hash)
    # before anything is read or loaded: -o is a file this user may write and none that the run reads
    model = model_inputs(request.model_dir) if request.model_dir is not None else []
    check_output_file(request.output_path, [request.input_path, *model])
    plan = _dask_plan(request) if request.engine == "dask" else _local_plan(request, runtime)
    check_top_k(request.options.top_k, plan.labels)
    answers = model_answer_rule(request.options.answers, request.model_dir, plan.labels)
    plan = replace(plan, options=replace(plan.options, answers=answers))
    if plan.dask is None and request.check is not None and reference is None:
        reference = open_reference(request.model_dir, request.verify_hash, _threads(request))
    return replace(plan, reference=reference)


def check_engine_options(request: ClassifyRequest) -> None:
    """OptionError for options the engine cannot honour: the Dask engine runs on the CPU, without --check, on
    files; --workers sizes a LocalCluster or the threads scheduler only."""
    if request.engine == "dask":
        if request.device != "cpu":
            raise OptionError("--engine dask runs on the CPU; use --engine local with --device cuda")
        if request.check is not None:
            raise OptionError("--check runs with --engine local only (it needs the eager reference in-process)")
        if "-" in (request.input_path, request.output_path):
            raise OptionError("--engine dask reads and writes files: give INPUT and -o OUTPUT paths, not '-'")
    scheduler = request.dask.scheduler
    if request.dask.workers is not None and scheduler not in (None, "threads"):
        raise OptionError(f"--workers sizes a LocalCluster (or the threads scheduler); with --scheduler "
                          f"{scheduler} it would be ignored: drop it")  # fmt: skip


def _local_plan(request: ClassifyRequest, runtime: Runtime | None) -> ClassifyPlan:
    """The local engine's plan with its runtime: ``runtime`` when given, else opened from the model folder."""
    if runtime is None:
        name = runtime_name(request.runtime, request.onnx_graph)
        if name in TORCH_RUNTIMES or request.check is not None:
            use_one_intra_op_thread()  # torch runtimes run 1-thread calls side by side
        runtime = open_runtime(name, request.model_dir, request.verify_hash, _threads(request), request.device)
    return ClassifyPlan(request.input_path, request.output_path, request.options, runtime.labels, runtime.alphabet,
                        runtime.name, request.verify_hash, runtime, tolerance=request.check)  # fmt: skip


def _threads(request: ClassifyRequest) -> int:
    return request.threads or os.cpu_count() or 1


def _dask_plan(request: ClassifyRequest) -> ClassifyPlan:
    """The Dask engine's plan: its options checked and the model read on the driver, as its workers receive it."""
    require_dask()
    check_scheduler(request.dask.scheduler)
    check_input_file(request.input_path)
    model_dir = Path(request.model_dir)
    files, digest = model_files(model_dir, request.runtime, request.verify_hash)
    labels, alphabet = model_vocabulary(model_dir, request.runtime, request.verify_hash)
    size = block_bytes(request.dask.blocksize)
    dask = DaskPlan(request.dask.scheduler, size, request.dask.workers, files, digest, model_dir)
    return ClassifyPlan(request.input_path, request.output_path, request.options, labels, alphabet, request.runtime,
                        request.verify_hash, dask=dask)  # fmt: skip


def require_dask() -> None:
    """RnnExportError unless Dask and distributed are installed (the optional ``dask`` extra)."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise RnnExportError("--engine dask needs Dask: pip install 'rnnexport[dask]'") from None


def check_top_k(top_k: int, labels: list[str]) -> None:
    """OptionError unless 1 <= top_k <= the model's label count. One rule for classify, predict and the Node.js
    consumers (examples/node): a top-k beyond the labels is refused, naming the number to use, never capped
    (classify's columns would not be the ones asked for); a default beyond them (predict's 3) is capped."""
    count = len(labels)
    if top_k > count:
        raise OptionError(f"--top-k {top_k} is more than the model's {count} labels; use --top-k {count} (or fewer)")
    if top_k < 1:
        raise OptionError(f"--top-k {top_k} is out of range; use 1 to {count}")


def block_bytes(blocksize: str | int) -> int:
    """--blocksize as bytes ('16MB', '64MiB' or a number); OptionError if it is not a size of at least 1 byte."""
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(blocksize)
    except (ValueError, TypeError, OverflowError):
        raise OptionError(f"--blocksize {blocksize!r} is not a size; try 16MB or 64MiB") from None
    if size < 1:
        raise OptionError(f"--blocksize {blocksize!r} must be at least 1 byte")
    return int(size)


def check_scheduler(scheduler: str | None) -> None:
    """OptionError unless --scheduler is absent, threads/sync, or an address with a host and a port (1-65535)."""
    if scheduler is None or scheduler in IN_PROCESS_SCHEDULERS:
        return
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        protocol, location = parse_address(scheduler)
        _, port = parse_host_port(location)
        valid = protocol in NETWORK_PROTOCOLS and 0 < int(port) < 65536
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise OptionError(
            f"--scheduler {scheduler!r} is not 'threads', 'sync' or a scheduler's address such as "
            "tcp://10.0.0.5:8786 (or 10.0.0.5:8786)"
        )


def check_input_file(path: str) -> None:
    """InputError unless ``path`` is a regular file: every worker reads its part of it at that path (a pipe, a
    FIFO or stdin cannot be read twice, nor by others)."""
    if Path(path).exists() and not Path(path).is_file() and not Path(path).is_dir():
        raise InputError(f"{path} is not a regular file; --engine dask reads it at its path from every worker: "
                         "save it to a file, or use --engine local")  # fmt: skip
