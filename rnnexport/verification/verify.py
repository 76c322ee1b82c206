"""Parity of every exported runtime with eager PyTorch, on every distinct name, at several batch sizes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data.fetch import find_names_dir
from ..data.labelled import folder_labels, read_names, read_pairs
from ..errors import DataError, ParityError, RnnExportError
from ..io.atomic import atomic_write_json
from ..io.outputs import check_output_file, files_read
from ..model.manifest import model_inputs
from ..runtimes.base import Runtime
from ..runtimes.onnx_runtimes import OnnxCellRuntime
from ..runtimes.prefix import build_schedule, run_schedule
from ..runtimes.registry import open_reference, open_runtime, verify_runtimes
from ..runtimes.torch_runtimes import TorchScriptRuntime
from ..text.alphabet import ALPHABET
from ..text.encode import RaggedNames, encode_ragged
from ..text.fold import fold, has_prediction
from .parity import ParityCheck, Tolerance, failure_line

# `rnnexport verify --help` (cli/export.py).
VERIFY_HELP = """Check exported runtimes against eager PyTorch on every name; print the parity report.

\b
Exit 0 when every log-prob of every runtime is within atol + rtol·|b| of eager PyTorch's float64 b,
with 100% top-1 agreement, else 1.
Examples:
  rnnexport verify --model-dir exported --report parity.json
  rnnexport verify --runtime onnx --atol 1e-5 --rtol 1e-6
"""
OPTION_HELP = {  # --names and --name-column of export and verify
    "names": "Verify on these names instead of the data set's (used only for a model of its labels): a CSV or "
    "Parquet file, or a folder of <label>.txt files.",
    "name_column": "With --names: the names' column, by name or 1-based number [default: 'name' in any case, else "
    "the only column].",
}
BATCH_SIZES = (1, 7, 1024)
PREFIX_BLOCK_SIZES = (1, 7, 8192)  # sorted distinct names per trie: one name, odd small tries, large levels
# Prefix-shared evaluation of each runtime: onnx-cell's engine is onnx's (the same step and head graphs).
PREFIX_RUNTIMES = ("torch", "torchscript", "export", "onnx")
PREFIX_SUFFIX = " prefix-shared"
# on_step(done, total, what): a long check's progress, after each of its ``total`` steps (a command's bar).
OnStep = Callable[[int, int, str], None]


def names_to_verify(path: Path | None, column: str | None = None) -> tuple[list[str] | None, str]:
    """The names of ``path`` (--names: a CSV or Parquet file, or a folder of <label>.txt files; ``column``:
    --name-column) and where they came from; (None, "given") without a path: :func:`verify_artifacts` then
    chooses (default_names)."""
    return read_names(path, column) if path else (None, "given")


def verify_folder(model_dir: Path, names_path: Path | None, name_column: str | None, tolerance: Tolerance,
                  runtime: str, verify_hash: bool, report_path: str | Path | None,
                  on_step: OnStep | None = None) -> dict:  # fmt: skip
    """``rnnexport verify``: :func:`verify_artifacts` of ``runtime`` ('all': every runtime whose artifact the folder
    has, verify_runtimes) on the names of ``names_path`` (default: default_names), the report also written as JSON
    to ``report_path`` when given, whether it passed or not. ``report_path`` is checked first: never a file the
    verification reads (the model's files, the names), so the model folder's files are never written. Raises
    ParityError (its report attached) after writing it; InputError or OutputError for an unusable
    ``report_path``."""
    if report_path is not None:
        check_output_file(report_path, [*model_inputs(model_dir), *verification_names(names_path)])
    names, source = names_to_verify(names_path, name_column)
    runtimes = None if runtime == "all" else (runtime,)
    try:
        report = verify_artifacts(model_dir, names, source, tolerance, runtimes, verify_hash, on_step)
    except ParityError as error:
        if report_path is not None:
            atomic_write_json(report_path, error.report)
        raise
    if report_path is not None:
        atomic_write_json(report_path, report)
    return report


def verification_names(names_path: Path | None) -> list[Path]:
    """The files the names to verify on may come from: ``names_path``'s, else the data set's (when found)."""
    if names_path is not None:
        return files_read(names_path)
    with contextlib.suppress(DataError):
        return files_read(find_names_dir())
    return []


def dataset_names(names_dir: Path | None = None) -> tuple[list[str], str]:
    """Every distinct folded name of the data set, and where they came from."""
    folder = find_names_dir(names_dir)
    names = sorted({pair.name for pair in read_pairs(folder)})
    return names, f"data set ({len(names)} distinct names)"


def generated_names(count: int = 5000, seed: int = 0, alphabet: str = ALPHABET) -> list[str]:
    """Random names over the alphabet, lengths 1..40: the fallback when the data set is absent."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(alphabet))
    return ["".join(rng.choice(letters, size=rng.integers(1, 41))) for _ in range(count)]


# The data set's names have 1-19 letters (mean 7.4, 99% at most 13); the parity rule is promised up to 32.
NAME_LENGTHS = (2, 32)
ENVELOPE_BANDS = ((1, 8), (9, 16), (17, 24), (25, 32), (33, 40), (41, 48), (49, 56), (57, 64))


def name_like_names(count: int = 5000, seed: int = 0, alphabet: str = ALPHABET,
                    lengths: tuple[int, int] = NAME_LENGTHS) -> list[str]:  # fmt: skip
    """Random capitalised names of ``lengths`` (inclusive) letters of ``alphabet``, lengths uniform: the first
    upper-case and the rest lower-case where the alphabet has both cases (any letter otherwise). The parity rule
    is a claim about names: float32 rounding grows with length and saturation, so random 40-letter strings of
    mixed case and punctuation (generated_names) can break it on a model that meets it on every real name."""
    rng = np.random.default_rng(seed)
    letters = [letter for letter in alphabet if letter.isalpha()] or list(alphabet)
    lower = np.array([letter for letter in letters if letter.islower()] or letters)
    upper = np.array([letter.upper() for letter in lower if letter.upper() in alphabet] or lower)
    lengths = rng.integers(lengths[0], lengths[1] + 1, size=count)
    return [str(rng.choice(upper)) + "".join(rng.choice(lower, size=length - 1)) for length in lengths]


def default_names(alphabet: str = ALPHABET, labels: list[str] | None = None, trained_on: dict | None = None
                  ) -> tuple[list[str], str]:  # fmt: skip
    """The names the model was trained on (``trained_on``: the checkpoint's record of train --data) when that
    data is still there; else the data set's distinct names when it is found and (given ``labels``) it has the
    model's labels; else name-like random names over ``alphabet`` (the model's), with the reason."""
    low, high = NAME_LENGTHS
    generated = f"generated: 5000 random capitalised names of {low}-{high} letters; "
    unreadable = ""
    if trained_on and Path(trained_on.get("path", "")).exists():
        try:
            names, source = read_names(Path(trained_on["path"]), trained_on.get("name_column"))
            return sorted(set(names)), f"its training data, {source}"
        except RnnExportError as error:  # replaced since training: check what else there is, and say why
            unreadable = f"its training data no longer reads ({error}; pass --names); "
    try:
        folder = find_names_dir()
        if labels is not None and folder_labels(folder) != sorted(labels):
            return name_like_names(alphabet=alphabet), generated + unreadable + (
                "the data set's labels are not this model's (pass --names with names it is meant for)"
            )
        names, source = dataset_names(folder)
        return names, unreadable + source
    except DataError:
        return name_like_names(alphabet=alphabet), generated + unreadable + (
            "the data set was not found (set RNNEXPORT_NAMES_DIR, or pass --names, to check every real name)"
        )


def run_batched(runtime: Runtime, encoded: RaggedNames, batch_size: int) -> np.ndarray:
    """Names in their given order, in mixed-length batches (this exercises the length masking)."""
    outputs = []
    for start in range(0, len(encoded.lengths), batch_size):
        batch = encoded.select(np.arange(start, min(start + batch_size, len(encoded.lengths)))).padded()
        outputs.append(runtime.log_probs(batch.indices, batch.lengths))
    return np.concatenate(outputs)


def run_prefix_shared(runtime: Runtime, encoded: RaggedNames, block_size: int) -> np.ndarray:
    """The runtime's prefix-shared evaluation (runtimes/prefix.py) of names in their given order."""
    schedule = build_schedule(encoded, block_size)
    return run_schedule(schedule, runtime.prefix_engine().block_log_probs, len(runtime.labels), runtime.parallel_calls)


def verify_runtime(runtime: Runtime, reference: np.ndarray, encoded, names: list[str], tolerance: Tolerance,
                   prefix_shared: bool = False, on_size: Callable[[int], None] | None = None) -> dict:  # fmt: skip
    """The parity report (parity.ParityCheck) over every batch size (prefix-shared: block size) together;
    ``by_batch_size`` (``by_block_size``) gives each size's max abs diff and worst ratio. ``on_size(size)``
    follows each size as it is done."""
    run, sizes = (run_prefix_shared, PREFIX_BLOCK_SIZES) if prefix_shared else (run_batched, BATCH_SIZES)
    check, by_size = ParityCheck(tolerance, runtime.labels), {}
    for size in sizes:
        candidate = run(runtime, encoded, size)
        check.add(reference, candidate, names)
        by_size[str(size)] = {"max_abs_diff": float(np.abs(reference - candidate).max()),
                              "worst_ratio": tolerance.worst_ratio(reference, candidate)}  # fmt: skip
        if on_size is not None:
            on_size(size)
    return {**check.report(), "by_block_size" if prefix_shared else "by_batch_size": by_size}


def hidden_state_check(model_dir: Path, encoded, verify_hash: bool, tolerance: Tolerance, batch_size: int = 1024
                       ) -> dict:  # fmt: skip
    """The ONNX cell chained step by step must reproduce the TorchScript module's hidden states (in [-1, 1]) by
    the same rule (reported, as a diagnosis of the cell graph; the log-probs decide)."""
    import torch

    scripted = TorchScriptRuntime(model_dir, verify_hash).module
    cell = OnnxCellRuntime(model_dir, verify_hash)
    worst, worst_ratio = 0.0, 0.0
    for start in range(0, len(encoded.lengths), batch_size):
        indices = encoded.select(np.arange(start, min(start + batch_size, len(encoded.lengths)))).padded().indices
        with torch.inference_mode():
            expected = scripted.hidden_states(torch.from_numpy(indices)).numpy()
        chained = cell.hidden_states(indices)
        worst = max(worst, float(np.abs(expected - chained).max()))
        worst_ratio = max(worst_ratio, tolerance.worst_ratio(expected.reshape(-1, 1), chained.reshape(-1, 1)))
    return {"max_abs_diff": worst, "worst_ratio": worst_ratio, "names": len(encoded.lengths)}


def verify_artifacts(
    model_dir: Path,
    names: list[str] | None = None,
    names_source: str = "given",
    tolerance: Tolerance | None = None,
    runtimes: tuple[str, ...] | None = None,
    verify_hash: bool = True,
    on_step: OnStep | None = None,
) -> dict:
    """Compare each runtime with eager PyTorch and return the report (no file is written: export writes
    parity.json; ``rnnexport verify --report PATH`` writes where asked). Raises ParityError listing every
    failure, with the report as ``error.report``; DataError when no name is left to verify on. ``tolerance``:
    the parity rule's atol and rtol (parity.Tolerance; default 1e-5 and 1e-6). ``runtimes``: default
    runtimes.verify_runtimes (every runtime whose artifact the folder has). ``on_step(done, total, what)``
    follows the reference, each runtime at each batch or block size, and the hidden-state check."""
    tolerance = tolerance or Tolerance()
    runtimes = verify_runtimes(model_dir) if runtimes is None else runtimes
    reference_runtime = open_reference(model_dir, verify_hash)
    alphabet = reference_runtime.alphabet
    if names is None:
        names, names_source = default_names(alphabet, reference_runtime.labels, reference_runtime.trained_on)
    names = [folded for folded in (fold(name, alphabet) for name in names) if has_prediction(folded)]
    if not names:
        raise DataError(f"no name to verify on: every name ({names_source}) folds to nothing in this model's "
                        "alphabet; choose the names' column (--name-column)")  # fmt: skip
    encoded = encode_ragged(names, alphabet)
    opened = {name: open_runtime(name, model_dir, verify_hash) for name in runtimes}
    checks = {name: (runtime, False) for name, runtime in opened.items()}
    # Artifacts exported before prefix sharing have no engine (classify then runs per name); export writes them.
    with_engine = [name for name in PREFIX_RUNTIMES if name in opened and opened[name].prefix_engine() is not None]
    checks |= {name + PREFIX_SUFFIX: (opened[name], True) for name in with_engine}
    hidden = "onnx-cell" in runtimes or "torchscript" in runtimes
    step = _stepper(on_step, 1 + sum(len(PREFIX_BLOCK_SIZES if prefix else BATCH_SIZES) for _, prefix in
                                     checks.values()) + hidden)  # fmt: skip
    reference = run_batched(reference_runtime, encoded, 1024)
    step(f"eager float64 on {len(names)} names")
    report = {
        **tolerance.as_dict(),
        "reference": "eager PyTorch in float64 from checkpoint.pt",
        "names_source": names_source,
        "n_names": len(names),
        "batch_sizes": list(BATCH_SIZES),
        "prefix_block_sizes": list(PREFIX_BLOCK_SIZES),
        "runtimes": {
            name: verify_runtime(runtime, reference, encoded, names, tolerance, prefix_shared,
                                 lambda size, name=name: step(f"{name} at {size}"))
            for name, (runtime, prefix_shared) in checks.items()
        },
    }  # fmt: skip
    if hidden:
        report["onnx_cell_vs_torchscript_hidden_states"] = hidden_state_check(
            model_dir, encoded, verify_hash, tolerance
        )
        step("onnx-cell hidden states")
    report["passed"] = all(entry["passed"] for entry in report["runtimes"].values())
    failures = [failure_line(name, entry) for name, entry in report["runtimes"].items() if not entry["passed"]]
    if failures:
        raise ParityError(failures, report)
    return report


def _stepper(on_step: OnStep | None, total: int) -> Callable[[str], None]:
    """``step(what)``: on_step(done, total, what) with done counted from 1 (nothing without on_step)."""
    done = [0]

    def step(what: str) -> None:
        done[0] += 1
        if on_step is not None:
            on_step(done[0], total, what)

    return step


def parity_envelope(model_dir: Path, per_band: int = 2000, seed: int = 0, tolerance: Tolerance | None = None,
                    bands: tuple[tuple[int, int], ...] = ENVELOPE_BANDS) -> dict:  # fmt: skip
    """The worst ratio of each runtime (per name at batch 1024, and prefix-shared) by name length: ``per_band``
    random capitalised names (name_like_names) of each band of lengths, against float64. Float32 error grows
    with length, faster when ``w`` expands; this says how far the rule holds (docs/model.md, 'Parity')."""
    tolerance = tolerance or Tolerance()
    reference_runtime = open_reference(model_dir)
    opened = {name: open_runtime(name, model_dir) for name in verify_runtimes(model_dir)}
    envelope = {}
    for low, high in bands:
        names = name_like_names(per_band, seed + low, reference_runtime.alphabet, (low, high))
        encoded = encode_ragged(names, reference_runtime.alphabet)
        reference = run_batched(reference_runtime, encoded, 1024)
        ratios = {name: tolerance.worst_ratio(reference, run_batched(runtime, encoded, 1024))
                  for name, runtime in opened.items()}  # fmt: skip
        ratios |= {name + PREFIX_SUFFIX: tolerance.worst_ratio(reference, run_prefix_shared(opened[name], encoded,
                                                                                             8192))
                   for name in PREFIX_RUNTIMES if name in opened}  # fmt: skip
        envelope[f"{low}-{high}"] = ratios
    return {**tolerance.as_dict(), "names_per_band": per_band, "seed": seed, "worst_ratio": envelope}


def format_report(parity: dict) -> str:
    """The parity report as a compact table: one row per runtime, then the worst ratio by reference band."""
    lines = [f"rule: |a - b| <= {parity['atol']:g} + {parity['rtol']:g}·|b|, b = {parity['reference']}",
             f"{'runtime':<25} {'max abs':>9} {'max rel':>9} {'ratio':>6} {'min atol':>9} {'top-1':>8}  result  "
             "worst: name, label (reference log-prob)"]  # fmt: skip
    for name, entry in parity["runtimes"].items():
        worst = entry["worst"]
        lines.append(
            f"{name:<25} {entry['max_abs_diff']:>9.3g} {entry['max_rel_diff']:>9.3g} {entry['worst_ratio']:>6.3f} "
            f"{entry['min_atol_to_pass']:>9.3g} {entry['top1_agreement']:>8.2%}  "
            f"{'pass' if entry['passed'] else 'FAIL':<6}  "
            + (f"{worst['name']!r}, {worst['label']} ({worst['reference_log_prob']:.3g})" if worst else "-")
        )
    entries = list(parity["runtimes"].values())
    if entries:
        bands = [
            f"{band} {max(e['by_band'][band]['worst_ratio'] for e in entries):.3f}"
            f" ({sum(e['by_band'][band]['beyond'] for e in entries)} beyond)"
            for band in entries[0]["by_band"]
        ]
        lines.append("worst ratio by reference log-prob, every runtime: " + "; ".join(bands))
    hidden = parity.get("onnx_cell_vs_torchscript_hidden_states")
    if hidden:
        lines.append(f"onnx cell vs torchscript hidden states: max abs diff {hidden['max_abs_diff']:.3g}, "
                     f"ratio {hidden['worst_ratio']:.3f}")  # fmt: skip
    return "\n".join(lines)
