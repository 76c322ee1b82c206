"""The browser page (examples/web) agrees with Python, in a real headless Chromium.

Assembles the page (examples/web/assemble.js), serves it with `python -m http.server` on a free localhost port,
and drives Debian's /usr/bin/chromium with playwright-core (examples/web/check_page.js): types names key by key
and compares the page's top 3 with `rnnexport classify --runtime torch`; gives it CSV files (file input and a
drop event) and compares the downloaded results with `rnnexport classify` of the same files. The screenshot
is kept as build/web-screenshot.png (a CI artifact).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_embed import (
    REPO,
    _check,
    _model_dir,
    _run,
    _sample_names,
    assert_top_k_matches_python,
    classify_with_python,
    npm_ci,
    python_top_k,
)

pytestmark = pytest.mark.web

WEB_DIR = REPO / "examples" / "web"
CHROMIUM = Path("/usr/bin/chromium")
ATOL = 1e-4
# Accented, UPPERCASE, non-Latin (folding to letters or to nothing) and letterless names.
TYPED = ["Dvořák", "NGUYỄN", "GARCÍA", "O'Néill", "Šťastný", "Yue Tingsong", "Иванов", "李小龍", "Ærøskøbing", "😀😀"]
TRICKY_ROWS = [
    ["1", "Dvořák", "Praha"],
    [],  # a blank line: not a row (copied as an empty line)
    ["2", "Smith, Jr.", "London"],
    ["3", "李小龍"],  # a short record: padded
    ["4", 'O"Brien\nMulti line', "Cork"],
    ["5", "😀", "-"],
    ["6", "", "-"],
    ["7", "NGUYỄN", "Hanoi"],
    ["8", "   ", "-"],
]


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (make browser, or apt-get install chromium)")
    npm_ci(WEB_DIR)
    site = tmp_path_factory.mktemp("web") / "site"
    _check(_run(["node", str(WEB_DIR / "assemble.js"), str(_model_dir()), str(site)], REPO), "assemble.js")
    command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(site)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = server.stdout.readline().decode()  # "Serving HTTP on 127.0.0.1 port 38421 (http://...) ..."
        assert " port " in line, line
        yield f"http://127.0.0.1:{line.split(' port ')[1].split()[0]}/"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file, lineterminator="\n").writerows([header, *rows])
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def page_run(page_url, tmp_path_factory):
    """What the page showed for TYPED and three CSV files (a bad one, then a good one by drop and by input)."""
    work = tmp_path_factory.mktemp("page")
    names = [["100" + str(i), name, "x"] for i, name in enumerate(_sample_names(300))]
    good = _write_csv(work / "people.csv", ["id", "Name", "city"], TRICKY_ROWS + names)
    bad = work / "bad.csv"
    bad.write_text("id,name\n1,Smith\n2,Smith,Jr.\n", encoding="utf-8")
    jobs = [{"path": str(bad), "via": "input"}, {"path": str(good), "via": "drop"}, {"path": str(good), "via": "input"}]
    job_file = work / "job.json"
    job_file.write_text(json.dumps({"names": TYPED, "csv": jobs}), encoding="utf-8")
    result = _run(["node", str(WEB_DIR / "check_page.js"), page_url, str(job_file), str(work)], REPO)
    _check(result, "check_page.js (headless Chromium)")
    (REPO / "build").mkdir(exist_ok=True)
    shutil.copyfile(work / "web-screenshot.png", REPO / "build" / "web-screenshot.png")
    return {"shown": json.loads(result.stdout), "good": good, "work": work}


def test_page_loads_without_errors(page_run):
    shown = page_run["shown"]
    assert shown["status"].startswith("Model ready: 18 languages"), shown["status"]
    assert shown["errors"] == []
    assert (REPO / "build" / "web-screenshot.png").stat().st_size > 10_000


def test_typed_names_top3_match_python(page_run, tmp_path):
    typed = page_run["shown"]["typed"]
    expected = python_top_k(_model_dir(), TYPED, 3, tmp_path)
    assert [entry["name"] for entry in typed] == TYPED
    assert_top_k_matches_python(TYPED, typed, expected, ATOL)
    assert any(not entry["top"] for entry in typed) and any(entry["top"] for entry in typed)


@pytest.fixture(scope="module")
def python_rows(page_run):
    return classify_with_python(_model_dir(), page_run["good"], 1)


@pytest.mark.parametrize("job", [1, 2], ids=["dropped", "file-input"])
def test_csv_download_matches_classify(page_run, python_rows, job):
    outcome = page_run["shown"]["csv"][job]
    assert outcome["state"] == "done", outcome["status"]
    assert outcome["progress"] == 1
    page_rows = _read_csv(Path(outcome["download"]))
    assert len(page_rows) == len(python_rows) == len(TRICKY_ROWS) - 1 + 300  # the blank line is no row
    assert list(page_rows[0]) == list(python_rows[0]) == ["id", "Name", "city", "language", "probability"]
    for i, (page, python) in enumerate(zip(page_rows, python_rows, strict=True)):
        assert [page[c] for c in ("id", "Name", "city")] == [python[c] for c in ("id", "Name", "city")], i
        assert page["language"] == python["language"], f"row {i}: {page} vs {python}"
        if python["probability"]:
            assert abs(float(page["probability"]) - float(python["probability"])) <= ATOL, f"row {i}"
        else:
            assert page["probability"] == ""
    skipped = sum(not row["language"] for row in python_rows)
    assert outcome["status"].startswith(f"{len(python_rows)} rows ({skipped} skipped: no letter)")


def test_csv_with_a_long_record_is_refused_like_classify(page_run):
    outcome = page_run["shown"]["csv"][0]
    assert outcome["state"] == "error" and outcome["download"] is None
    assert "has 3 fields, the header has 2" in outcome["status"]  # the page names the data row, classify the line
    rnnexport = Path(sys.executable).parent / "rnnexport"
    bad = page_run["work"] / "bad.csv"
    result = _run([str(rnnexport), "classify", str(bad), "--model-dir", str(_model_dir()), "--quiet"], REPO)
    assert result.returncode == 1
    assert "line 3 has 3 fields, the header has 2" in result.stderr.decode()
