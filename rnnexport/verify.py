"""Parity of every exported runtime with eager PyTorch, on every distinct name, at several batch sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import find_names_dir, folder_labels, read_names, read_pairs
from .errors import DataError, ParityError, RnnExportError
from .prefix import build_schedule, run_schedule
from .runtimes import VERIFY_RUNTIMES, OnnxCellRuntime, Runtime, TorchScriptRuntime, open_reference, open_runtime
from .text import ALPHABET, RaggedNames, encode_ragged, fold, has_prediction

BATCH_SIZES = (1, 7, 1024)
PREFIX_BLOCK_SIZES = (1, 7, 8192)  # sorted distinct names per trie: one name, odd small tries, large levels
# Prefix-shared evaluation of each runtime: onnx-cell's engine is onnx's (the same step and head graphs).
PREFIX_RUNTIMES = ("torch", "torchscript", "onnx")
PREFIX_SUFFIX = " prefix-shared"
N_WORST = 5


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


NAME_LENGTHS = (2, 14)  # the data set's names: 1-19 letters, mean 7.4, 99% at most 13


def name_like_names(count: int = 5000, seed: int = 0, alphabet: str = ALPHABET) -> list[str]:
    """Random names shaped like the data set's: ``NAME_LENGTHS`` letters of ``alphabet``, the first upper-case
    and the rest lower-case where the alphabet has both cases (any letter otherwise). The parity bound is a
    claim about names; float32 rounding grows with length and saturation, so random 40-letter strings of mixed
    case and punctuation (generated_names) can exceed 1e-5 on a model that meets it on every real name."""
    rng = np.random.default_rng(seed)
    letters = [letter for letter in alphabet if letter.isalpha()] or list(alphabet)
    lower = np.array([letter for letter in letters if letter.islower()] or letters)
    upper = np.array([letter.upper() for letter in lower if letter.upper() in alphabet] or lower)
    lengths = rng.integers(NAME_LENGTHS[0], NAME_LENGTHS[1] + 1, size=count)
    return [str(rng.choice(upper)) + "".join(rng.choice(lower, size=length - 1)) for length in lengths]


def default_names(alphabet: str = ALPHABET, labels: list[str] | None = None, trained_on: dict | None = None
                  ) -> tuple[list[str], str]:  # fmt: skip
    """The names the model was trained on (``trained_on``: the checkpoint's record of train --data) when that
    data is still there; else the data set's distinct names when it is found and (given ``labels``) it has the
    model's labels; else name-like random names over ``alphabet`` (the model's), with the reason."""
    low, high = NAME_LENGTHS
    generated = f"generated: 5000 random Title-case names of {low}-{high} letters; "
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


def compare(reference: np.ndarray, candidates: list[np.ndarray], names: list[str]) -> dict:
    """Polygraphy-style comparison of log-probs [N, L] against one or more candidate runs of the same names."""
    difference = np.stack([np.abs(reference.astype(np.float64) - candidate) for candidate in candidates])
    per_name = difference.max(axis=(0, 2))
    worst = np.argsort(-per_name, kind="stable")[:N_WORST]
    top3_reference = np.argsort(-reference, axis=1, kind="stable")[:, :3]
    top1 = [(reference.argmax(1) == candidate.argmax(1)).mean() for candidate in candidates]
    top3 = [(top3_reference == np.argsort(-c, axis=1, kind="stable")[:, :3]).all(axis=1).mean() for c in candidates]
    return {
        "max_abs_diff": float(difference.max()),
        "mean_abs_diff": float(difference.mean()),
        "top1_agreement": float(min(top1)),
        "top3_agreement": float(min(top3)),
        "worst_names": [{"name": names[i], "max_abs_diff": float(per_name[i])} for i in worst],
    }


def run_prefix_shared(runtime: Runtime, encoded: RaggedNames, block_size: int) -> np.ndarray:
    """The runtime's prefix-shared evaluation (rnnexport/prefix.py) of names in their given order."""
    schedule = build_schedule(encoded, block_size)
    return run_schedule(schedule, runtime.prefix_engine().block_log_probs, len(runtime.labels), runtime.parallel_calls)


def verify_runtime(
    runtime: Runtime, reference: np.ndarray, encoded, names: list[str], atol: float, prefix_shared: bool = False
) -> dict:
    """Headline figures are the worst over every batch size (prefix-shared: block size); ``by_batch_size``
    (``by_block_size``) splits the max abs diff."""
    run, sizes = (run_prefix_shared, PREFIX_BLOCK_SIZES) if prefix_shared else (run_batched, BATCH_SIZES)
    candidates = [run(runtime, encoded, size) for size in sizes]
    report = compare(reference, candidates, names)
    report["by_block_size" if prefix_shared else "by_batch_size"] = {
        str(size): float(np.abs(reference - candidate).max()) for size, candidate in zip(sizes, candidates, strict=True)
    }
    report["min_atol_to_pass"] = report["max_abs_diff"]
    report["passed"] = report["max_abs_diff"] <= atol and report["top1_agreement"] == 1.0
    return report


def hidden_state_check(model_dir: Path, encoded, verify_hash: bool, batch_size: int = 1024) -> dict:
    """The ONNX cell chained step by step must reproduce the TorchScript module's hidden states."""
    import torch

    scripted = TorchScriptRuntime(model_dir, verify_hash).module
    cell = OnnxCellRuntime(model_dir, verify_hash)
    worst = 0.0
    for start in range(0, len(encoded.lengths), batch_size):
        indices = encoded.select(np.arange(start, min(start + batch_size, len(encoded.lengths)))).padded().indices
        with torch.inference_mode():
            expected = scripted.hidden_states(torch.from_numpy(indices)).numpy()
        worst = max(worst, float(np.abs(expected - cell.hidden_states(indices)).max()))
    return {"max_abs_diff": worst, "names": len(encoded.lengths)}


def verify_artifacts(
    model_dir: Path,
    names: list[str] | None = None,
    names_source: str = "given",
    atol: float = 1e-5,
    runtimes: tuple[str, ...] = VERIFY_RUNTIMES,
    verify_hash: bool = True,
) -> dict:
    """Compare each runtime with eager PyTorch and return the report (no file is written: export writes
    parity.json; ``rnnexport verify --report PATH`` writes where asked). Raises ParityError listing every
    failure, with the report as ``error.report``; DataError when no name is left to verify on."""
    reference_runtime = open_reference(model_dir, verify_hash)
    alphabet = reference_runtime.alphabet
    if names is None:
        names, names_source = default_names(alphabet, reference_runtime.labels, reference_runtime.trained_on)
    names = [folded for folded in (fold(name, alphabet) for name in names) if has_prediction(folded)]
    if not names:
        raise DataError(f"no name to verify on: every name ({names_source}) folds to nothing in this model's "
                        "alphabet; choose the names' column (--name-column)")  # fmt: skip
    encoded = encode_ragged(names, alphabet)
    reference = run_batched(reference_runtime, encoded, 1024)
    opened = {name: open_runtime(name, model_dir, verify_hash) for name in runtimes}
    checks = {name: (runtime, False) for name, runtime in opened.items()}
    # Artifacts exported before prefix sharing have no engine (classify then runs per name); export writes them.
    with_engine = [name for name in PREFIX_RUNTIMES if name in opened and opened[name].prefix_engine() is not None]
    checks |= {name + PREFIX_SUFFIX: (opened[name], True) for name in with_engine}
    report = {
        "atol": atol,
        "reference": "eager PyTorch in float64 from checkpoint.pt",
        "names_source": names_source,
        "n_names": len(names),
        "batch_sizes": list(BATCH_SIZES),
        "prefix_block_sizes": list(PREFIX_BLOCK_SIZES),
        "runtimes": {
            name: verify_runtime(runtime, reference, encoded, names, atol, prefix_shared)
            for name, (runtime, prefix_shared) in checks.items()
        },
    }
    if "onnx-cell" in runtimes or "torchscript" in runtimes:
        report["onnx_cell_vs_torchscript_hidden_states"] = hidden_state_check(model_dir, encoded, verify_hash)
    report["passed"] = all(entry["passed"] for entry in report["runtimes"].values())
    failures = [
        f"{name}: max abs diff {entry['max_abs_diff']:.3g} (atol {atol:g}), "
        f"top-1 agreement {entry['top1_agreement']:.4%}"
        for name, entry in report["runtimes"].items()
        if not entry["passed"]
    ]
    if failures:
        raise ParityError(failures, report)
    return report
