"""What a classify request says, as given: where to read and write, which model and runtime, the options of the
reading, the model calls and the output, and which engine. Nothing here is checked yet: plan.py does that, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..answers.rule import AnswerRule
from ..io.csv.records import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_ROWS
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
    input_format: str | None = None  # 'csv', 'parquet'; None: by the file (io.formats.input_format)
    output_format: str | None = None  # 'csv', 'parquet'; None: by the file name (io.formats.output_format)
    answers: AnswerRule | None = None  # --min-probability, --coverage, --set-method (plan.py adds the thresholds)


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
    runtime: str = "onnx"  # a key of runtimes.registry.RUNTIME_ARTIFACTS (or 'onnx' with onnx_graph 'cell')
    onnx_graph: str = "sequence"
    threads: int | None = None  # model threads; None: every core
    check: Tolerance | None = None  # also run eager PyTorch on every row and hold the runtime to this rule
    verify_hash: bool = True
    device: str = "cpu"
    engine: str = "local"
    dask: DaskOptions = DaskOptions()
    manifest_pin: str | None = None  # --expect-manifest-sha256: the model folder's manifest must hash to this

    @classmethod
    def from_options(
        cls,
        input_path: str,
        output_path: str,
        model_dir: Path | None,
        *,
        column,
        delimiter,
        no_header,
        top_k,
        batch_size,
        chunk_rows,
        encoding,
        strict,
        prefix_sharing,
        input_format,
        output_format,
        min_probability,
        coverage,
        set_method,
        runtime,
        onnx_graph,
        threads,
        check,
        atol,
        rtol,
        no_verify_hash,
        device,
        engine,
        scheduler,
        blocksize,
        workers,
        manifest_pin,
    ) -> ClassifyRequest:
        """The request that ``rnnexport classify``'s options give, by their parameter names (cli/classify.py; the
        help of each is OPTION_HELP's). Raises OptionError for answer options that do not go together."""
        from ..answers.rule import answer_rule
        from ..io.csv.reader import delimiter_option

        options = ClassifyOptions(column, top_k, batch_size, chunk_rows, encoding, strict, delimiter_option(delimiter),
                                  not no_header, prefix_sharing=prefix_sharing, input_format=input_format,
                                  output_format=output_format,
                                  answers=answer_rule(min_probability, coverage, set_method))  # fmt: skip
        return cls(input_path, output_path, model_dir, options, runtime, onnx_graph, threads,
                   Tolerance(atol, rtol) if check else None, not no_verify_hash, device, engine,
                   DaskOptions(scheduler, blocksize, workers), manifest_pin)  # fmt: skip


# `rnnexport classify --help` and `rnnexport predict --help` (cli/classify.py).
CLASSIFY_HELP = """Classify every name of a CSV or Parquet file and write it back with language and probability columns.

\b
The file is read as Python's csv module reads it (quotes, "" inside quotes, LF, CRLF or
CR line ends). Every input record is written back byte for byte (as UTF-8), in order,
with language, probability (and language_2, probability_2, ... with --top-k) inserted
before its line end, separated by the input's delimiter; a last line without a line
end gets the file's first one. Blank lines are not rows: they are copied through as
they are, with no prediction. An Excel 'sep=X' first line sets the delimiter and is
not copied. A name with no letter of the alphabet (blank, digits, emoji) gets empty
prediction columns and is counted as skipped.
\b
Parquet (by a .parquet/.parq/.pq name or --input-format/--format) is read row group
by row group; a Parquet output keeps every input column with its type, then
language (string) and probability (float64). CSV -> Parquet and back work in one run.
\b
Examples:
  rnnexport classify names.csv -o labelled.csv
  rnnexport classify names.csv --runtime torchscript --top-k 3 -o top3.csv
  cat names.csv | rnnexport classify - --column surname > labelled.csv
  rnnexport classify names.csv -o out.csv --check      # exit 3 if not equal to PyTorch
  rnnexport classify people.parquet -o labelled.parquet
  rnnexport classify names.csv -o labelled.parquet     # CSV in, Parquet out
  rnnexport classify names.csv --min-probability 0.5 --coverage 0.9 -o answers.csv
\b
A file OUTPUT appears only once complete (an existing one is untouched on any error or signal);
with -o - (stdout) rows are written as they are classified, like any Unix filter: on a failure
the Error line and the exit status say the output is incomplete.
Exit status: 0 ok, 1 bad input or artifacts, 2 a bad option, 3 --check found a difference beyond
--atol (the output is still written), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP, 141 stdout's
reader went away.
"""
PREDICT_HELP = """Print the top-k labels of names given on the command line, with the folded form the model saw.

\b
Example:
  rnnexport predict 'Yue Tingsong' Dvořák Müller
  Dvořák -> Dvorak: Czech 0.877, ...
  rnnexport predict Smith --min-probability 0.5 --coverage 0.9
"""
# What each option of `rnnexport classify` sets, as its --help says it (cli/classify.py), by parameter name.
OPTION_HELP = {
    "predict_top_k": "How many labels to show [default: 3, or all of a model with fewer].",
    "output_path": "Output CSV or Parquet file ('-' = stdout).",
    "runtime": "onnx: char_rnn.onnx (no torch import); onnx-cell: char_rnn_cell.onnx driven letter by letter, name by "
    "name, as an embedding service runs it (same as --onnx-graph cell; no prefix sharing); torchscript: "
    "char_rnn.pt; export: char_rnn.pt2 (torch.export); aoti: char_rnn_aoti.pt2 (export --aoti; this CPU and torch "
    "only; no prefix sharing); torch: eager checkpoint.",
    "onnx_graph": "With --runtime onnx: the whole-name graph, or the cell driven letter by letter.",
    "column": "The column holding names, by header name or 1-based number [default: 'name' exactly, else 'name' in any "
    "case or padding, else the only column; column 1 with --no-header].",
    "delimiter": "Field delimiter: , ; | or tab (also '\\t') [default: an Excel 'sep=X' first line, else ; tab or | "
    "when the header line has no comma but one of them, else ,]. The output uses the input's delimiter (from a "
    "Parquet input: this one, else ,).",
    "no_header": "The file has no header line (one name per line): none is written.",
    "top_k": "Also write language_2/probability_2 ... up to K.",
    "batch_size": "Names per model call; each batch holds names of one length.",
    "chunk_rows": f"Rows read per chunk (a chunk also stops at {DEFAULT_CHUNK_BYTES >> 20} MiB, 8 bytes a delimiter "
    "counted): memory stays flat whatever the file size.",
    "threads": "Threads for the model, and chunks classified at once (at most 2) [default: all cores].",
    "prefix_sharing": "Compute each distinct name and each shared prefix once (the same model; results differ from "
    "per-name by float32 rounding only, both held to the parity rule against float64); off: every name from "
    "scratch. Not for onnx-cell, which runs the cell graph name by name.",
    "check": "Also run eager PyTorch (float64) on every row; exit 3 if any log-prob is beyond the parity rule (--atol, "
    "--rtol) or a top-1 label differs.",
    "encoding": "Input encoding, e.g. latin-1 (transcoded; the output is always UTF-8) [default: a UTF-8 or UTF-16 "
    "byte-order mark's, else utf-8].",
    "strict": "Fail on the first name with no letter instead of leaving it empty.",
    "device": "cuda: torch/torchscript on the GPU; onnx with onnxruntime-gpu's CUDA provider (export and aoti run "
    "on the CPU only).",
    "engine": "dask: partitions over a Dask cluster (pip install 'rnnexport[dask]').",
    "scheduler": "With --engine dask: an existing scheduler's address, or 'threads'/'sync' for in-process schedulers "
    "[default: a LocalCluster].",
    "blocksize": "With --engine dask: the most bytes per partition (workers must read INPUT at the same path).",
    "workers": "With --engine dask: LocalCluster worker processes (threads with --scheduler threads) [default: all "
    "cores].",
    "input_format": "auto: Parquet for a .parquet/.parq/.pq name or a file starting with PAR1, else CSV (stdin: CSV).",
    "output_format": "auto: Parquet for a .parquet/.parq/.pq OUTPUT name, else CSV (stdout: CSV).",
}
