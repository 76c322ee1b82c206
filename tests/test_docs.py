"""The examples the docs show, checked against the code and the committed model so that they cannot drift
(issue 23): every `predict`-style figure in README.md, docs/, the examples' READMEs and the commands' --help;
the HTTP service's example answer in docs/embedding.md and what it says the page bundles; the README's
`classify` examples on the committed samples of data/, from a fresh folder; data/README.md's checksums.

A figure that no longer matches fails with the line to write instead. After a re-export, rewrite every figure
this file holds from the committed model in one go, then rerun it and read the diff:

    .venv/bin/python -m tests.test_docs --write      # without --write: list the stale figures, exit 1
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnexport.classify.predict import predict_top_k
from rnnexport.data.fetch import EXPECTED_LABELS
from rnnexport.text.fold import fold
from tests.conftest import COMMITTED_MODEL_DIR, REPO
from tests.helpers import assert_printed_probabilities, reference_rows

# The --help texts live beside the library functions the commands call, hence all of rnnexport/.
DOCS = sorted([REPO / "README.md", REPO / "data" / "README.md", *(REPO / "docs").glob("*.md"),
               *(REPO / "examples").glob("*/README.md"), *(REPO / "rnnexport").rglob("*.py")])  # fmt: skip
LABEL = "(?:" + "|".join(EXPECTED_LABELS) + ")"
TOP = rf"(?P<top>{LABEL} \d\.\d{{3}}(?:, {LABEL} \d\.\d{{3}})*)"
# `田中` (Tanaka) -> `TianZhong`: Chinese 0.664 in Markdown; Dvořák -> Dvorak: Czech 0.877, ... in a comment;
# (`rnnexport predict SMITH` → English 0.285, ...) in prose
EXAMPLES = (
    re.compile(rf"`(?P<name>[^`]+)`(?: \([^)]*\))?(?: -> `(?P<folded>[^`]*)`)?: {TOP}"),
    re.compile(rf"(?<![`\w])(?P<name>[^\s`:(]+) -> (?P<folded>[^\s`:]+): {TOP}"),
    re.compile(rf"`rnnexport predict (?P<name>[^`\s]+)` → {TOP}"),
)


def predict_examples() -> list[tuple[str, str, str | None, list[tuple[str, str]]]]:
    """(where, name, folded or None, [(label, printed probability), ...]) of every predict-style figure."""
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern in EXAMPLES:
                for match in pattern.finditer(line):
                    pairs = [tuple(pair.rsplit(" ", 1)) for pair in match["top"].split(", ")]
                    folded = match.groupdict().get("folded")
                    found.append((f"{path.relative_to(REPO)}:{number}", match["name"], folded, pairs))
    return found


def written(name: str, folded: str, top: list[tuple[str, float]]) -> str:
    shown = name if folded == name else f"{name} -> {folded}"
    return f"{shown}: " + ", ".join(f"{label} {probability:.3f}" for label, probability in top)


def test_every_predict_figure_in_the_docs_is_the_committed_models(committed_model_dir):
    examples = predict_examples()
    assert len(examples) >= 15, examples  # the patterns still find the docs' examples
    labels, references = reference_rows(committed_model_dir, [name for _, name, _, _ in examples])
    for (where, name, folded, pairs), reference in zip(examples, references, strict=True):
        prediction = predict_top_k([name], committed_model_dir, "onnx", len(pairs))[0]
        fix = f"{where}: write {written(name, prediction.folded, prediction.top)!r}"
        assert folded in (None, prediction.folded), fix
        assert [label for label, _ in pairs] == [label for label, _ in prediction.top], fix
        shown = np.array([float(probability) for _, probability in pairs])
        assert_printed_probabilities(shown, reference[[labels.index(label) for label, _ in pairs]], 3, fix)


def service_example() -> tuple[dict, list[dict], str]:
    """docs/embedding.md's HTTP service example: the request body, the answer's predictions (probabilities as
    written, a trailing … meaning cut short) and the /healthz answer."""
    text = (REPO / "docs" / "embedding.md").read_text(encoding="utf-8")
    block = text[text.index("### The HTTP service") :].split("```")[1]
    request = json.loads(re.search(r"/classify .* -d '(\{.*\})'", block)[1])
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('# {"predictions"'))
    answer = "".join(line[1:].strip() for line in lines[start:] if line.startswith("# "))
    answer, healthz = answer.split('{"status"', 1)
    answer = re.sub(r"(\d)…", r"\1", answer)
    return request, json.loads(answer)["predictions"], '{"status"' + healthz


def test_the_services_example_answer_is_the_committed_models(committed_model_dir):
    request, predictions, healthz = service_example()
    names = request["names"]
    labels, references = reference_rows(committed_model_dir, names)
    assert [entry["name"] for entry in predictions] == names
    for entry, reference in zip(predictions, references, strict=True):
        assert entry["folded"] == fold(entry["name"])
        if reference is None:
            assert entry["top"] == []
            continue
        expected = predict_top_k([entry["name"]], committed_model_dir, "onnx", request["top_k"])[0].top
        fix = f"docs/embedding.md: the service now answers {entry['name']!r} with {expected}"
        assert [item["label"] for item in entry["top"]] == [label for label, _ in expected], fix
        for item in entry["top"]:  # cut short, not rounded: one unit of the last digit shown is allowed
            digits = len(str(item["probability"]).split(".")[1])
            assert digits >= 3, fix  # fewer would hold nothing (0.5… passed for 0.877)
            log_prob = reference[labels.index(item["label"])]
            assert_printed_probabilities(np.array([item["probability"]]), np.array([log_prob]), digits - 1, fix)
    assert f'"labels":{len(labels)},' in healthz


def test_the_pages_bundle_is_what_assemble_js_copies():
    # issue 23: docs/embedding.md said the page bundles Papa Parse, which had been dropped. The sentence now
    # names the files examples/web/assemble.js copies; both lists must be the same.
    assemble = (REPO / "examples" / "web" / "assemble.js").read_text(encoding="utf-8")
    listing = assemble[assemble.index("const FILES = {") : assemble.index("};", assemble.index("const FILES = {"))]
    copied = set(re.findall(r"'([\w.-]+\.(?:html|js|mjs|css|wasm|onnx|json))'", listing))
    text = (REPO / "docs" / "embedding.md").read_text(encoding="utf-8")
    sentence = text[text.index("`make serve-web` assembles") :].split(")", 1)[0]
    named = set(re.findall(r"`([\w.-]+\.(?:html|js|mjs|css|wasm|onnx|json))`", sentence))
    assert named == copied, f"docs/embedding.md names {sorted(named - copied)}, misses {sorted(copied - named)}"


def readme_sample_commands() -> list[str]:
    """The README's `rnnexport classify data/...` lines: the ones that run on the committed samples."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return [line.split("  #")[0].strip() for line in readme.splitlines() if line.startswith("rnnexport classify data/")]


def test_the_readmes_first_classify_example_runs_on_a_committed_sample():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first = next(line for line in readme.splitlines() if line.startswith("rnnexport classify "))
    assert first.startswith("rnnexport classify data/sample.csv ")
    if (REPO / ".git").exists():  # a checkout: the samples are committed, not ignored (.gitignore has data/*.csv)
        samples = ["data/README.md", "data/sample.csv", "data/sample_semicolon.csv", "data/sample.txt"]
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", *samples], cwd=REPO, capture_output=True)
        assert tracked.returncode == 0, tracked.stderr


@pytest.mark.parametrize("command", readme_sample_commands())
def test_the_readmes_sample_commands_run_from_a_fresh_folder(command, tmp_path):
    """Word for word, with the installed command, in a folder that has nothing but a copy of data/'s samples:
    no data set, no exported/ (the packaged model), as after `git clone`."""
    for sample in ("sample.csv", "sample_semicolon.csv", "sample.txt"):
        (tmp_path / "data").mkdir(exist_ok=True)
        shutil.copy(REPO / "data" / sample, tmp_path / "data" / sample)
    argv = shlex.split(command)
    argv[0] = str(Path(sys.executable).parent / "rnnexport")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RNNEXPORT_")}
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and " rows out (0 skipped: no letter" in result.stderr, result.stderr
    out = tmp_path / argv[argv.index("-o") + 1] if "-o" in argv else None
    rows = out.read_text(encoding="utf-8").splitlines() if out else result.stdout.splitlines()
    assert len(rows) >= 40 and all(row.count(",") >= 2 or row.count(";") >= 3 for row in rows)


def test_the_samples_are_what_data_readme_says():
    import csv

    with open(REPO / "data" / "sample.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 369 and [row["id"] for row in rows] == [str(i) for i in range(1, 370)]
    names = [row["name"] for row in rows]
    assert len(set(names)) == len(names) and sum(name.isupper() for name in names) == 10
    assert sum(not fold(name).isascii() or fold(name) != name for name in names if not name.isascii()) >= 19
    with open(REPO / "data" / "sample_semicolon.csv", encoding="utf-8", newline="") as file:
        semicolon = list(csv.reader(file, delimiter=";"))
    assert semicolon[0] == ["id", "name", "city"] and [row[1] for row in semicolon[1:]] == names[:40]
    assert (REPO / "data" / "sample.txt").read_text(encoding="utf-8").splitlines() == names[40:80]


def test_data_readmes_checksums_are_the_data_sets(real_names_dir):
    text = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    listed = dict(reversed(line.split("  ")) for line in re.findall(r"^[0-9a-f]{64}  \w+\.txt$", text, re.M))
    assert sorted(listed) == [f"{label}.txt" for label in EXPECTED_LABELS]
    for file_name, digest in listed.items():
        assert hashlib.sha256((real_names_dir / file_name).read_bytes()).hexdigest() == digest, file_name


def test_every_time_in_the_commands_help_is_a_range():
    # issue 23: `train --help` said "~20 s on 2 cores" (52 s under load). A time in --help is a range (by load)
    # or none: the measured figures, with their runs and loads, are the README's.
    from click.testing import CliRunner

    from rnnexport.cli.app import main

    times = re.compile(r"(?<![\w.-])(~\s*)?(\d+(?:\.\d+)?)(-\d+(?:\.\d+)?)? ?(s|min|minutes|seconds)\b")
    runner = CliRunner()
    for command in ["", *main.commands]:
        text = runner.invoke(main, [command, "--help"] if command else ["--help"]).output
        for match in times.finditer(text):
            assert match[1] is None and match[3], f"rnnexport {command} --help: {match[0]!r} is not a range"


CASES = {"as written": "original", "lower-cased": "lower", "UPPER-cased": "upper"}  # README row -> training.json
CASE_ROW = re.compile(r"^\| (?P<case>as written|lower-cased|UPPER-cased) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$", re.M)


def case_rows(model_dir: Path) -> dict[str, str]:
    """The README's evaluate table, row by row, as the committed model's training.json gives it."""
    measured = json.loads((model_dir / "training.json").read_text(encoding="utf-8"))["held_out_case"]
    figures = ("accuracy", "balanced_accuracy", "ece")
    return {
        case: f"| {case} | " + " | ".join(f"{measured[key][f]:.3f}" for f in figures) + " |"
        for case, key in CASES.items()
    }


def test_the_readmes_case_table_is_the_committed_models(committed_model_dir):
    # issue 23: the lower- and UPPER-cased accuracies that evaluate now shows; the README gives the committed
    # model's, which a re-export changes.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Model quality") :]
    shown = {match["case"]: match[0] for match in CASE_ROW.finditer(section[: section.index("\n### ")])}
    assert shown == case_rows(committed_model_dir), "README.md's case table: run python -m tests.test_docs --write"


# Rewriting the figures from the committed model (python -m tests.test_docs [--write]).


def rewritten_predict_line(line: str, model_dir: Path) -> str:
    """``line`` with each predict-style figure's folded form, labels and probabilities as `predict` prints them."""
    spans = []  # (start, end, text), replaced from the end
    for pattern in EXAMPLES:
        for match in pattern.finditer(line):
            count = len(match["top"].split(", "))
            prediction = predict_top_k([match["name"]], model_dir, "onnx", count)[0]
            spans.append((*match.span("top"), ", ".join(f"{label} {p:.3f}" for label, p in prediction.top)))
            if match.groupdict().get("folded") is not None:
                spans.append((*match.span("folded"), prediction.folded))
    for start, end, text in sorted(spans, reverse=True):
        line = line[:start] + text + line[end:]
    return line


def rewritten_service_lines(lines: list[str], model_dir: Path) -> list[str]:
    """docs/embedding.md's lines with the service's example answer as the committed model gives it: each
    probability cut short after 8 digits and marked `…`, wrapped at an entry of a list."""
    start = next(i for i, line in enumerate(lines) if line.startswith('# {"predictions"'))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("# "))
    request, _, _ = service_example()
    entries = []
    for prediction in predict_top_k(request["names"], model_dir, "onnx", request["top_k"]):
        top = ",".join(
            f'{{"label":{json.dumps(label)},"probability":{f"{probability:.12f}"[:10]}…}}'
            for label, probability in prediction.top or []
        )
        entries.append(f'{{"name":{json.dumps(prediction.name, ensure_ascii=False)},'
                       f'"folded":{json.dumps(prediction.folded, ensure_ascii=False)},"top":[{top}]}}')  # fmt: skip
    pieces = re.split(r"(?<=,)(?=\{)", '{"predictions":[' + ",".join(entries) + "]}")
    wrapped = ["# " + pieces[0]]
    for piece in pieces[1:]:
        if len(wrapped[-1]) + len(piece) > 112:
            wrapped.append("#   " + piece)
        else:
            wrapped[-1] += piece
    return lines[:start] + wrapped + lines[end:]


def rewrite_figures(model_dir: Path, write: bool) -> list[str]:
    """Every file this module holds to the model whose figures differ from the model's ('path: N lines');
    with ``write``, rewritten in place."""
    changed, rows = [], case_rows(model_dir)
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        lines = [rewritten_predict_line(line, model_dir) for line in text.split("\n")]
        if path.name == "embedding.md":
            lines = rewritten_service_lines(lines, model_dir)
        new = "\n".join(lines)
        if path.name == "README.md" and path.parent == REPO:
            new = CASE_ROW.sub(lambda match: rows[match["case"]], new)
        if new != text:
            count = sum(a != b for a, b in zip(text.split("\n"), new.split("\n"), strict=False))
            changed.append(f"{path.relative_to(REPO)}: {count} lines")
            if write:
                path.write_text(new, encoding="utf-8")
    return changed


def test_the_rewrite_writes_what_predict_prints(committed_model_dir):
    stale = "`Dvořák` -> `Dvorxk`: Irish 0.500, English 0.100; (`rnnexport predict SMITH` → Korean 0.999)"
    dvorak, smith = predict_top_k(["Dvořák", "SMITH"], committed_model_dir, "onnx", 2)
    expected = (f"`Dvořák` -> `Dvorak`: {written('x', 'x', dvorak.top)[3:]}; "
                f"(`rnnexport predict SMITH` → {written('x', 'x', smith.top[:1])[3:]})")  # fmt: skip
    assert rewritten_predict_line(stale, committed_model_dir) == expected


def test_the_docs_are_what_the_rewrite_writes(committed_model_dir):
    # The figures above are held to the float64 reference within the printed digits; this holds the docs to the
    # exact lines `python -m tests.test_docs --write` writes, so that after a re-export that command is the fix.
    assert rewrite_figures(committed_model_dir, write=False) == [], "run python -m tests.test_docs --write"


if __name__ == "__main__":
    changed = rewrite_figures(COMMITTED_MODEL_DIR, write="--write" in sys.argv[1:])
    print("\n".join(changed) or "every figure is the committed model's")
    sys.exit(1 if changed and "--write" not in sys.argv[1:] else 0)
