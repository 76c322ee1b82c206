"""Helpers shared by tests: tampering with exported artifacts the way a bad build would."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from rnnexport.model.manifest import sha256_of


def rehash_in_manifest(model_dir: Path, file_name: str) -> None:
    """Make manifest.json agree with the file as it now is (a consistent but wrong export)."""
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"][file_name]["sha256"] = sha256_of(model_dir / file_name)
    manifest_path.write_text(json.dumps(manifest))


def tamper_onnx_weight(model_dir: Path, file_name: str = "char_rnn.onnx", delta: float = 0.05) -> None:
    """Shift one weight matrix of an ONNX file and re-hash it, so only a parity check can catch it."""
    path = model_dir / file_name
    proto = onnx.load(str(path))
    target = max(proto.graph.initializer, key=lambda tensor: int(np.prod(tensor.dims)))
    array = numpy_helper.to_array(target).copy()
    array += delta
    target.CopyFrom(numpy_helper.from_array(array, target.name))
    onnx.save(proto, str(path))
    rehash_in_manifest(model_dir, file_name)


def flip_a_byte(path: Path, offset_from_end: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def reference_log_probs(model_dir: Path, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """float64 [B, L]: eager PyTorch in float64 on ``model_dir``'s checkpoint, the parity rule's reference."""
    from rnnexport.runtimes.registry import open_reference

    return open_reference(model_dir).log_probs(indices, lengths)


def assert_parity(reference: np.ndarray, candidate: np.ndarray, names, what: str, labels=None) -> dict:
    """Hold ``candidate`` log-probs [N, L] to the project's one parity rule (rnnexport.parity) against the float64
    ``reference``; fails with the rule's own one-line explanation. Returns the report."""
    from rnnexport.verification.parity import compare, failure_line

    report = compare(reference, candidate, names, labels=labels)
    assert report["passed"], failure_line(what, report)
    return report


def assert_printed_probabilities(printed: np.ndarray, reference: np.ndarray, decimals: int, what: str) -> None:
    """Probabilities printed with ``decimals`` decimals (classify's CSV) against float64 reference log-probs b:
    the parity rule carried to probabilities, |p - e^b| <= e^b·expm1(atol + rtol·|b|), plus half a unit of the
    last printed place."""
    from rnnexport.verification.parity import Tolerance

    reference = np.asarray(reference, dtype=np.float64)
    allowed = np.exp(reference) * np.expm1(Tolerance().bound(reference)) + 0.5 * 10.0**-decimals
    beyond = np.abs(np.asarray(printed, dtype=np.float64) - np.exp(reference)) > allowed
    assert not beyond.any(), f"{what}: printed probabilities beyond the parity rule at {np.argwhere(beyond)[:5]}"


def float64_log_probs(model, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """float64 [B, L]: an in-memory CharRNN run in float64 (a copy; the model is untouched), the rule's reference."""
    import copy

    import torch

    with torch.no_grad():
        return copy.deepcopy(model).double()(torch.from_numpy(indices), torch.from_numpy(lengths)).numpy()


def reference_rows(model_dir: Path, names: list[str]) -> tuple[list[str], list[np.ndarray | None]]:
    """The model's labels, and per name its float64 reference log-probs [L] (None: the name has no letter)."""
    from rnnexport.runtimes.registry import open_reference
    from rnnexport.text.encode import encode_ragged
    from rnnexport.verification.verify import run_batched

    runtime = open_reference(model_dir)
    encoded = encode_ragged(names, runtime.alphabet)
    valid = np.flatnonzero(encoded.lengths > 0)
    rows: list[np.ndarray | None] = [None] * len(names)
    for row, log_probs in zip(valid, run_batched(runtime, encoded.select(valid), 256), strict=True):
        rows[row] = log_probs
    return list(runtime.labels), rows


def assert_top_k_within_rule(shown: list[tuple[str, float]], reference: np.ndarray, labels: list[str], what: str
                             ) -> None:  # fmt: skip
    """A consumer's top-k answer [(label, probability), ...] against the float64 reference log-probs [L] of the
    name, by the parity rule: the top-1 label is the reference's; each shown log(probability) is within the rule
    of the reference; the labels are distinct, in descending order, and a hidden label outranks a shown one only
    by less than their two bounds together (float32 may order near-ties either way)."""
    from rnnexport.verification.parity import Tolerance, compare, failure_line

    assert shown, f"{what}: no prediction"
    indices = [labels.index(label) for label, _ in shown]
    assert len(set(indices)) == len(indices), f"{what}: repeated labels {shown}"
    assert indices[0] == int(reference.argmax()), f"{what}: top-1 {shown[0][0]}, reference {labels[reference.argmax()]}"
    probabilities = np.array([p for _, p in shown], dtype=np.float64)
    assert (np.diff(probabilities) <= 0).all(), f"{what}: not in descending order: {shown}"
    shown_labels = [labels[i] for i in indices]
    report = compare(reference[None, indices], np.log(probabilities)[None, :], [what], labels=shown_labels)
    assert report["passed"], failure_line(what, report)
    bound = Tolerance().bound(reference)
    hidden = [i for i in range(len(labels)) if i not in indices]
    for s in indices:
        for h in hidden:
            assert reference[h] <= reference[s] + bound[s] + bound[h], f"{what}: {labels[h]} outranks shown {labels[s]}"


REPO = Path(__file__).resolve().parents[1]
AOTI_CACHE = REPO / "build" / "aoti"
# What an AOTInductor package depends on besides the checkpoint: a change to these rebuilds the cached package.
AOTI_SOURCES = ("rnnexport/export/torch_export.py", "rnnexport/model/aoti_target.py")


def aoti_export(model_dir: Path, names: list[str] | None = None) -> Path:
    """``model_dir``'s checkpoint exported with ``--aoti`` (every artifact plus char_rnn_aoti.pt2, verified) into
    build/aoti/, cached by the checkpoint, the torch version and the exporter's sources, like the consumer
    environments under build/consumers/: the package is compiled for one CPU and one torch, so it is never
    committed, and a fresh clone compiles it once (40-90 s of CPU on 2 cores)."""
    import hashlib

    import torch

    from rnnexport.export.artifacts import export_artifacts
    from rnnexport.model.manifest import AOTI_FILE, MANIFEST_NAME

    digest = hashlib.sha256((model_dir / "checkpoint.pt").read_bytes() + torch.__version__.encode())
    for source in AOTI_SOURCES:
        digest.update((REPO / source).read_bytes())
    folder = AOTI_CACHE / digest.hexdigest()[:16]
    if not ((folder / MANIFEST_NAME).is_file() and (folder / AOTI_FILE).is_file()):
        export_artifacts(model_dir / "checkpoint.pt", folder, names=names, aoti=True)
    return folder


def rewrite_aoti_metadata(path: Path, **changes: str) -> None:
    """Change entries of an AOTInductor package's metadata (as a package built elsewhere would have them)."""
    import zipfile

    original = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith("wrapper_metadata.json"):
                content = json.dumps({**json.loads(content), **changes}).encode()
            target.writestr(info, content)


def run_in_terminal(command: list[str], timeout: float = 300) -> tuple[int, str, str]:
    """(exit status, stdout, what the command wrote to stderr) with stderr a pseudo-terminal of 120 columns, as
    in an interactive shell (progress bars show only there); stdin is empty, stdout a pipe."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal) as process:
        os.close(terminal)
        chunks = []
        while chunk := _read_terminal(master):
            chunks.append(chunk)
        os.close(master)
        stdout = process.stdout.read().decode()
        status = process.wait(timeout=timeout)
    return status, stdout, b"".join(chunks).decode(errors="replace")


def _read_terminal(master: int) -> bytes:
    """The next bytes of a pseudo-terminal, b'' once every writer has closed it (Linux raises EIO then)."""
    import os

    try:
        return os.read(master, 65536)
    except OSError:
        return b""


def with_prediction_sets(model_dir: Path, copy_to: Path) -> Path:
    """``model_dir`` if its manifest.json has prediction-set thresholds, else a copy at ``copy_to`` whose manifest
    gets them as `rnnexport export` writes them (export.manifest.prediction_sets_entry of its checkpoint): the
    committed model is re-exported only at merge time."""
    import shutil

    import torch

    from rnnexport.export.manifest import prediction_sets_entry

    manifest = json.loads((model_dir / "manifest.json").read_text())
    if "prediction_sets" in manifest:
        return model_dir
    shutil.copytree(model_dir, copy_to)
    checkpoint = torch.load(model_dir / "checkpoint.pt", weights_only=True)
    manifest["prediction_sets"] = prediction_sets_entry(checkpoint)
    (copy_to / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return copy_to


def answer_rule_of(model_dir: Path, labels: list[str], min_probability=None, coverage=None, set_method=None):
    """The answers.rule.AnswerRule a consumer given these options applies (thresholds from the manifest)."""
    from rnnexport.answers.rule import answer_rule
    from rnnexport.classify.answer_columns import model_answer_rule

    return model_answer_rule(answer_rule(min_probability, coverage, set_method), model_dir, labels)


def assert_decisions_within_rule(reference: list[np.ndarray | None], statuses: list[str], sets: list[list[str]] | None,
                                 rule, labels: list[str], what: str) -> dict:  # fmt: skip
    """A consumer's answers, per name its status text and its set (labels; None without --coverage), against
    the float64 reference log-probs [L] of each name (None: no letter) under ``rule``: a decision may differ from
    the reference's only where the reference lies within the parity rule's bound of the threshold
    (verification/decisions.py). Returns the report (how many differed within the bound)."""
    from rnnexport.answers.rule import STATUSES
    from rnnexport.verification.decisions import decision_report

    assert len(statuses) == len(reference), f"{what}: {len(statuses)} answers for {len(reference)} names"
    rows = np.array([np.full(len(labels), np.nan) if row is None else row for row in reference], dtype=np.float64)
    codes = np.array([STATUSES.index(status) for status in statuses])
    chosen = None
    if sets is not None:
        chosen = np.array([[label in members for label in labels] for members in sets], dtype=bool)
    report = decision_report(rows, codes, chosen, rule)
    assert report["passed"], f"{what}: a decision beyond the parity rule's bound: {report['first_beyond']}"
    return report
