"""The browser page (examples/web) agrees with Python, in a real headless Chromium.

Assembles the page (examples/web/assemble.js), serves it with `python -m http.server` on a free localhost port,
and drives Debian's /usr/bin/chromium with playwright-core (examples/web/check_page.js): types names key by key
and compares the page's top 3 with `rnnexport classify --runtime torch`; gives it CSV files (the real-world
shapes of ../shared/cases/csv, encodings by byte-order mark, quoting and line ends it must copy, files the CLI
refuses; by drop event and by file input) and compares each download with `rnnexport classify` of the same file,
byte for byte but for the probabilities' last digit. A long run must paint frames, stay live to typing and stop on
Cancel; the newest file must win; the page opened from file://, from a host that is not secure or with a broken
model folder must say what to do. Its CSV reader is held equal to Python's csv module, its dialect choice to
classify's, its column rule and label quoting to Python's (in Node). The screenshot is kept as
build/web-screenshot.png (a CI artifact).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.classify.csv_output import prediction_fields
from rnnexport.errors import InputError
from rnnexport.io.csv.exact import UnclosedQuoteError, exact_record
from rnnexport.io.csv.reader import read_csv_input
from rnnexport.verification.verify import default_names
from tests.helpers import answer_rule_of, assert_decisions_within_rule, reference_rows, with_prediction_sets

from .test_cases import CASES
from .test_embed import (
    REPO,
    _check,
    _model_dir,
    _run,
    _sample_names,
    assert_top_k_matches_python,
    npm_ci,
)

pytestmark = pytest.mark.web

WEB_DIR = REPO / "examples" / "web"
CHROMIUM = Path("/usr/bin/chromium")
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
REFUSED = {  # files classify refuses: (bytes, words that both its message and the page's hold, lower case)
    "not-utf8.csv": (b"name\nSmith\nM\xfcller\n", "line 3 is not valid utf-8"),
    "two-name-columns.csv": (b"id, Name ,NAME\n1,Smith,Kim\n", "columns 2 (' name ') and 3 ('name') both match"),
    "no-name-column.csv": (b"first,last\nAnna,Smith\n", "no column called 'name'; columns are: first, last"),
    "unclosed-quote.csv": (b'name,note\nSmith,"open\nKim,x\n', "line 2: a quoted field opens here and is never"),
    "long-record.csv": (b"id,name\n1,Smith\n2,Smith,Jr.\n", "line 3 has 3 fields, the header has 2"),
    "tied-delimiters.csv": (b"a;b|c\n1;2|3\n", "the header holds as many semicolon and pipe characters"),
    "blank-header.csv": (b"\nname\nSmith\n", "has no header row; the first line must name the columns"),
    "has-language.csv": (b"name,language\nSmith,x\n", "already has column(s) language; rename them"),
    "empty.csv": (b"", "is empty (0 bytes)"),
    "sep-only.csv": (b"sep=;", "has no header row; the first line must name the columns"),
}
# Bytes the page must copy as classify does (quoting, spaces, line ends of each record, blank lines, a sep= line,
# no last line end, a DOS end-of-file mark, short records), each file's download compared byte for byte.
BYTE_CASES = {
    "quoted.csv": b'id,name\n1,"Smith"\n2,"Kim"\n',
    "inch.csv": b"id,name,note\n1,Smith,5'11\" tall\n",
    "padded.csv": b"id, name ,x \n1, Smith ,x \n",
    "empty-quoted.csv": b'name\n""\n',
    "after-quote.csv": b'name,b\n"Smi"th,"ab" cd\n',
    "formula.csv": b'name,n\n=HYPERLINK("x"),-3\n',
    "quoted-header.csv": b'"id","name"\n1,Kim\n',
    "mixed-ends.csv": b"id,name\r\n1,Smith\n2,Kim\r\n3,Lee\r",
    "blank-lines.csv": b"name\r\nSmith\r\n\r\n\nKim\r\n",
    "sep-line.csv": b"sep=;\r\nid;name\n1;Smith\n2;Kim",
    "cr-crlf.csv": b"name\r\r\nSmith\n",
    "short.csv": b"a,name,c\n1,Smith\n\n   \n2\n",
    "ctrl-z.csv": b"id,name\r\n1,Smith\x1a",
    "header-only.csv": b"id,name",
    "bom-tab.csv": b"\xef\xbb\xbfid\tname\n1\tO'Brien\n",
}
# Files the page refuses and classify does not (it reads Parquet; it streams files of any size).
PAGE_ONLY_REFUSED = {
    "names.parquet": "this is a parquet file; the page reads csv files only: use rnnexport classify",
    "huge.csv": "the file is too large for the page (600 mib; at most 512 mib): use rnnexport classify",
}
BUSY_ROWS = 100_000  # 49 batches of 2,048 rows
ANSWER_OPTIONS = {"minProbability": "0.5", "coverage": "0.90"}  # the page's boxes, as classify's flags below


@functools.cache
def every_name() -> list[str]:
    """Every name of the data set (generated names without it), then names with no letter."""
    return [*default_names()[0], "😀", "", "12345", "   "]


CASE_FILES = sorted(path.name for path in CASES.glob("*.csv"))  # none when ../shared/cases/csv is absent
BOM_COPIES = {"utf16be-bom.csv": "utf-16-be", "utf8-bom.csv": "utf-8"}


@pytest.fixture(scope="module")
def web_model(tmp_path_factory) -> Path:
    """The model the page serves: the model under test with the prediction-set thresholds export writes."""
    return with_prediction_sets(_model_dir(), tmp_path_factory.mktemp("answers") / "model")


@pytest.fixture(scope="module")
def site(tmp_path_factory, web_model) -> Path:
    """The assembled page (a folder)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (make browser, or apt-get install chromium)")
    npm_ci(WEB_DIR)
    site = tmp_path_factory.mktemp("web") / "site"
    _check(_run(["node", str(WEB_DIR / "assemble.js"), str(web_model), str(site)], REPO), "assemble.js")
    return site


@pytest.fixture(scope="module")
def page_url(site):
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


def _bom_copies(work: Path) -> list[Path]:
    """The UTF-16 LE case file written again in BOM_COPIES' encodings, each with its byte-order mark."""
    text = (CASES / "utf16le-bom-excel-export.csv").read_text("utf-16")
    for name, encoding in BOM_COPIES.items():
        (work / name).write_bytes(("\ufeff" + text).encode(encoding))
    return [work / name for name in BOM_COPIES]


def _page_only_refused(work: Path) -> None:
    """PAGE_ONLY_REFUSED's files: a real Parquet file; a 600 MiB CSV with a header (sparse: no disk used)."""
    import pyarrow  # a dependency of rnnexport (classify reads Parquet)
    from pyarrow import parquet

    parquet.write_table(pyarrow.table({"name": ["Smith", "Kim", "Dvořák"]}), work / "names.parquet")
    with (work / "huge.csv").open("wb") as file:
        file.write(b"name\nSmith\n")
        file.truncate(600 * 2**20)


def _scenarios(work: Path, site: Path) -> dict:
    """check_page.js's scenario jobs: a long run, two files given one after the other, page loads gone wrong."""
    names = _sample_names(1000)
    _write_csv(work / "busy.csv", ["id", "name", "city"], [[str(i), names[i % 1000], "x"] for i in range(BUSY_ROWS)])
    _write_csv(work / "first-slow.csv", ["id", "surname"], [["1", "Smith"]])
    _write_csv(work / "second-small.csv", ["name"], [["Dvořák"]])
    manifest = {"pattern": "**/model/manifest.json", "body": '{"artifacts": '}
    return {
        "busy": str(work / "busy.csv"),
        "newest": [str(work / "first-slow.csv"), str(work / "second-small.csv")],
        "a11y": True,
        "loads": [
            {"url": (site / "index.html").as_uri()},
            {"url": "{insecure}"},
            {"url": "{url}", "route": manifest},
            {"url": "{url}", "route": {"pattern": "**/model/fold_table.json", "abort": True}},
            {"url": "{url}", "route": {"pattern": "**/ort-wasm-simd-threaded.wasm", "status": 404}},
        ],
    }


@pytest.fixture(scope="module")
def page_run(page_url, site, tmp_path_factory):
    """What the page showed for TYPED, for each CSV job and for the scenarios: {"shown": check_page.js's output,
    "jobs": [job]}."""
    work = tmp_path_factory.mktemp("page")
    names = [["100" + str(i), name, "x"] for i, name in enumerate(_sample_names(300))]
    people = _write_csv(work / "people.csv", ["id", "Name", "city"], TRICKY_ROWS + names)
    for name, data in [*((name, data) for name, (data, _) in REFUSED.items()), *BYTE_CASES.items()]:
        (work / name).write_bytes(data)
    _page_only_refused(work)
    cases = [CASES / name for name in CASE_FILES] + (_bom_copies(work) if CASE_FILES else [])
    jobs = [{"path": str(path), "via": "drop"} for path in [people, *cases, *(work / name for name in BYTE_CASES)]]
    jobs += [{"path": str(work / name), "via": "input"} for name in [people.name, *REFUSED, *PAGE_ONLY_REFUSED]]
    every = _write_csv(work / "every-name.csv", ["id", "name"], [[str(i), name] for i, name in enumerate(every_name())])
    answers = {**ANSWER_OPTIONS, "names": TYPED, "csv": [{"path": str(every), "via": "input"}]}
    job_file = work / "job.json"
    job = {"names": TYPED, "csv": jobs, "answers": answers, **_scenarios(work, site)}
    job_file.write_text(json.dumps(job), encoding="utf-8")
    result = _run(["node", str(WEB_DIR / "check_page.js"), page_url, str(job_file), str(work)], REPO)
    _check(result, "check_page.js (headless Chromium)")
    (REPO / "build").mkdir(exist_ok=True)
    shutil.copyfile(work / "web-screenshot.png", REPO / "build" / "web-screenshot.png")
    return {"shown": json.loads(result.stdout), "jobs": jobs}


def _outcome(page_run, path: Path, via: str) -> dict:
    """What the page showed for the job that gave it ``path`` by ``via`` (drop or input)."""
    index = page_run["jobs"].index({"path": str(path), "via": via})
    return page_run["shown"]["csv"][index]


def test_typed_answers_match_python(page_run, web_model):
    """The answer options (ANSWER_OPTIONS: a minimum probability of 0.5, sets at 0.90 by the manifest's default
    method) on typed names: status and set decided as on the float64 reference but within the parity rule's bound
    of a threshold."""
    typed = page_run["shown"]["answers"]["typed"]
    model = web_model
    labels, reference = reference_rows(model, TYPED)
    assert_top_k_matches_python(TYPED, typed, model)
    shown = [(entry["status"] or "no_letter", entry["set"] or []) for entry in typed]  # hidden: no letter
    rule = answer_rule_of(model, labels, 0.5, 0.9)
    assert_decisions_within_rule(reference, [s for s, _ in shown], [m for _, m in shown], rule, labels, "typed")
    assert {status for status, _ in shown} >= {"ok", "no_letter"}


def test_download_with_answers_matches_python_on_every_data_set_name(page_run, web_model):
    """Every name of the data set in one CSV, classified by the page with the answer options: the columns
    classify writes with --min-probability 0.5 --coverage 0.9, each decision as on the float64 reference but
    within the parity rule's bound of a threshold; the other fields as classify's, probabilities within one unit
    of the 6th decimal."""
    outcome = page_run["shown"]["answers"]["csv"][0]
    assert outcome["state"] == "done", outcome["status"]
    page = list(csv.DictReader(io.StringIO(Path(outcome["download"]).read_text(encoding="utf-8"))))
    model = web_model
    assert list(page[0]) == ["id", "name", "language", "probability", "prediction_set", "set_size", "status"]
    assert [row["name"] for row in page] == every_name()
    labels, reference = reference_rows(model, every_name())
    sets = [row["prediction_set"].split("|") if row["prediction_set"] else [] for row in page]
    rule = answer_rule_of(model, labels, 0.5, 0.9)
    report = assert_decisions_within_rule(reference, [row["status"] for row in page], sets, rule, labels, "page")
    assert report["status_differences"] + report["set_differences"] <= 5, report
    for row, expected in zip(page, reference, strict=True):
        assert (row["language"] == "") == (row["status"] != "ok"), row
        assert row["set_size"] == ("" if expected is None else str(len(row["prediction_set"].split("|")))), row
        if expected is not None:
            units = abs(round(float(row["probability"]) * 1e6) - round(float(np.exp(expected.max())) * 1e6))
            assert units <= 1, row


def test_page_loads_without_errors(page_run):
    shown = page_run["shown"]
    assert shown["status"].startswith("Model ready: 18 languages"), shown["status"]
    assert shown["errors"] == []
    assert (REPO / "build" / "web-screenshot.png").stat().st_size > 10_000


def test_typed_names_top3_match_python(page_run, tmp_path):
    typed = page_run["shown"]["typed"]
    assert [entry["name"] for entry in typed] == TYPED
    assert all(len(entry["top"]) in (0, 3) for entry in typed)
    assert_top_k_matches_python(TYPED, typed, _model_dir())
    assert any(not entry["top"] for entry in typed) and any(entry["top"] for entry in typed)


def _classify(path: Path) -> subprocess.CompletedProcess:
    rnnexport = Path(sys.executable).parent / "rnnexport"
    return _run([str(rnnexport), "classify", str(path), "--model-dir", str(_model_dir())], REPO)


def _job_path(page_run, name: str) -> Path:
    return next(Path(job["path"]) for job in page_run["jobs"] if Path(job["path"]).name == name)


# A probability field: after a delimiter, before a line end (classify inserts it there).
PROBABILITY = re.compile(rb"(?<=[,;\t|])([01]\.[0-9]{6})(?=\r\n|\r|\n|$)")


def _assert_same_bytes(page: bytes, cli: bytes, what: str) -> None:
    """page == cli but for probabilities at most one unit of the 6th decimal apart (onnxruntime-web and classify's
    onnxruntime differ by ~2e-7, which flips the rounding of a value that close to a half; classify's own value
    moves as much with the batch a name is in: 'Soren' alone is 0.66111157, in its file's batch 0.66111147): the
    text around them compared byte for byte."""
    page_parts, cli_parts = PROBABILITY.split(page), PROBABILITY.split(cli)
    assert len(page_parts) == len(cli_parts), (
        f"{what}: {len(page_parts) // 2} probabilities, classify {len(cli_parts) // 2}"
    )
    for i, (shown, expected) in enumerate(zip(page_parts, cli_parts, strict=True)):
        if i % 2:
            units = [int(value.replace(b".", b"")) for value in (shown, expected)]  # in units of the last place
            assert abs(units[0] - units[1]) <= 1, f"{what}: probability {shown!r} vs {expected!r}"
        else:
            assert shown == expected, f"{what}: page {shown[:300]!r}, classify {expected[:300]!r}"


def _assert_download_equals_classify(page_run, path: Path, via: str) -> None:
    """The page's download is classify's output byte for byte (BOM, header, every record's own text and line end,
    blank lines, label quoting), but for probabilities one unit of the 6th decimal apart; the summary counts the
    same rows."""
    outcome = _outcome(page_run, path, via)
    assert outcome["state"] == "done" and outcome["progress"] == 1, (path, outcome["status"])
    assert outcome["name"] == f"{path.stem}.labelled.csv", outcome["name"]
    result = _classify(path)
    _check(result, f"rnnexport classify {path}")
    _assert_same_bytes(Path(outcome["download"]).read_bytes(), result.stdout, path.name)
    counts = re.search(r"([\d,]+) rows out \(([\d,]+) skipped: no letter", result.stderr.decode())
    rows, skipped = (int(count.replace(",", "")) for count in counts.groups())
    assert outcome["status"].startswith(f"{rows} rows ({skipped} skipped: no letter"), outcome["status"]


@pytest.mark.parametrize("name", [*CASE_FILES, *(BOM_COPIES if CASE_FILES else [])])
def test_case_file_download_equals_classify(page_run, name):
    """The real-world shapes (and the UTF-16 LE case as UTF-16 BE and UTF-8 with their marks), dropped on the
    page."""
    _assert_download_equals_classify(page_run, _job_path(page_run, name), "drop")


@pytest.mark.parametrize("via", ["drop", "input"])
def test_people_csv_download_equals_classify(page_run, via):
    """Tricky rows (blank line, short record, quoted line break, letterless names) and 300 data-set names."""
    _assert_download_equals_classify(page_run, _job_path(page_run, "people.csv"), via)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_files_classify_refuses_are_refused_with_its_message(page_run, name):
    words = REFUSED[name][1]
    path = _job_path(page_run, name)
    result = _classify(path)
    assert result.returncode == 1 and words in result.stderr.decode().lower(), result.stderr.decode()
    outcome = _outcome(page_run, path, "input")
    assert outcome["state"] == "error" and outcome["download"] is None, outcome
    assert outcome["status"].startswith(f"Error: {name}: ") and words in outcome["status"].lower(), outcome["status"]


def _scenario(page_run, name: str):
    """check_page.js's result for a scenario (failing the test with its error when it failed)."""
    shown = page_run["shown"][name]
    assert not (isinstance(shown, dict) and "error" in shown), f"scenario {name}: {shown}"
    return shown


@pytest.mark.parametrize("name", sorted(BYTE_CASES))
def test_download_keeps_each_records_bytes_as_classify(page_run, name):
    """Quoting, spaces, line ends of every kind, blank lines, a sep= line, no last line end, a DOS end-of-file
    mark, short records, a BOM: copied as classify copies them, the predictions inserted before each line end."""
    _assert_download_equals_classify(page_run, _job_path(page_run, name), "drop")


@pytest.mark.parametrize("name", sorted(PAGE_ONLY_REFUSED))
def test_parquet_and_too_large_files_are_refused_pointing_to_classify(page_run, name):
    outcome = _outcome(page_run, _job_path(page_run, name), "input")
    assert outcome["state"] == "error" and outcome["download"] is None, outcome
    assert outcome["status"].startswith(f"Error: {name}: "), outcome["status"]
    assert PAGE_ONLY_REFUSED[name] in outcome["status"].lower(), outcome["status"]


def test_long_run_paints_frames_stays_live_and_allows_no_second_run(page_run):
    """A 100,000-row run yields to the browser between batches: frames are painted while it runs, a key typed
    mid-run gets its top 3 before the run ends, and choosing a column mid-run does not enable a second run."""
    busy = _scenario(page_run, "busy")
    assert busy["finished"]["status"].startswith(f"{BUSY_ROWS} rows"), busy["finished"]
    assert busy["finished"]["frames"] > 1, busy["finished"]  # the unyielding page painted one frame per run
    assert ["K", "running"] in busy["finished"]["topChanges"], busy["finished"]["topChanges"]
    assert busy["midRunControls"] == {"state": "running", "run": True, "column": True}


def test_cancel_stops_a_run_and_offers_nothing(page_run):
    cancelled = _scenario(page_run, "busy")["cancelled"]
    assert cancelled["state"] == "cancelled" and cancelled["status"] == "Cancelled: busy.csv; nothing was written"
    assert not cancelled["download"] and not cancelled["cancel"] and 0 < cancelled["progress"] < 1, cancelled
    assert not cancelled["run"], "Classify runs the file again after a cancel"


def test_newest_file_wins(page_run):
    """A file given while an earlier one is still read (held back here until the second is done) or classified
    (dropped mid-run) replaces it: the earlier one's result never shows."""
    newest = _scenario(page_run, "newest")
    expected = {"status": newest["before"]["status"], "download": "second-small.labelled.csv", "columns": ["1: name"]}
    assert newest["before"]["status"].startswith("1 rows (0 skipped"), newest
    assert newest["before"] == newest["after"] == expected, newest
    replaced = _scenario(page_run, "busy")["replaced"]
    assert replaced["status"].startswith("1 rows (0 skipped") and replaced["download"] == "second-small.labelled.csv"
    assert replaced["columns"] == ["1: name"], replaced


def test_drops_outside_the_box_and_of_several_files(page_run):
    drops = _scenario(page_run, "drops")
    assert drops["outside"]["dragoverPrevented"] and drops["outside"]["dropPrevented"], drops  # the page stays
    assert drops["outside"]["status"].startswith("1 rows (0 skipped"), drops
    assert drops["several"]["status"] == "Error: 2 files were dropped; drop one file at a time", drops


def test_long_name_wraps(page_run):
    width = _scenario(page_run, "longName")
    assert width["scrollWidth"] <= width["clientWidth"], width


def test_accessible_names_and_live_regions(page_run):
    a11y = _scenario(page_run, "a11y")
    for line in ['textbox "Name"', 'button "Drop a CSV file here, or choose one:"',
                 'progressbar "Classification progress"', 'meter "', 'status: "Model ready: 18 languages']:  # fmt: skip
        assert line in a11y["snapshot"], (line, a11y["snapshot"])
    assert a11y["live"] == {"status": "status", "top": "polite", "csv-status": "status"}, a11y["live"]
    assert {".csv", ".tsv", ".txt"} <= set(a11y["accept"].split(",")), a11y["accept"]


LOAD_MESSAGES = [  # what the page says when opened so that it cannot work: the cause, then the fix
    "this page does not run from a file (browsers do not load its modules from file://): serve it with make serve-web",
    "the page needs https:// or http://localhost (webcrypto checks the model's sha-256): serve it with make serve-web",
    "./model/manifest.json is not valid json (",
    "./model/fold_table.json could not be read (failed to fetch); check the server, then rebuild the page",
    "onnxruntime-web did not start (",
]


def test_page_opened_where_it_cannot_work_says_why_and_what_to_do(page_run):
    """Opened from file://, over plain http from another host, or with manifest.json cut short, fold_table.json
    not served, the wasm file missing: an error naming the file or the cause and the fix (never 'Loading' forever
    or a bare JavaScript message)."""
    loads = _scenario(page_run, "loads")
    assert [load["state"] for load in loads] == ["error"] * len(LOAD_MESSAGES), loads
    for load, words in zip(loads, LOAD_MESSAGES, strict=True):
        assert words in load["status"].lower(), (load["url"], load["status"])
        assert "make serve-web" in load["status"], load["status"]


COLUMN_RULE_IN_NODE = """
import { chooseColumn } from '%s';
const padded = [];
for (let cp = 0; cp < 0x110000; cp++) {
  const c = String.fromCodePoint(cp);
  if (chooseColumn(['id', c + 'Name' + c]) === 1) padded.push(cp);
}
process.stdout.write(JSON.stringify(padded));
"""


def test_name_column_padding_is_what_python_strip_removes():
    """chooseColumn takes 'name' padded by a code point exactly when classify's column rule does (Python's
    str.strip(): U+001C-U+001F and U+0085 are padding, U+FEFF and U+200B are not), for every code point."""
    from rnnexport.io.columns import choose_column

    script = COLUMN_RULE_IN_NODE % (WEB_DIR / "csv_file.js").as_uri()
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, timeout=120, check=False
    )
    _check(result, "csv_file.js in node")
    expected = []
    for cp in range(0x110000):
        try:
            if choose_column(["id", f"{chr(cp)}Name{chr(cp)}"], None, "t") == 1:
                expected.append(cp)
        except InputError:
            pass
    assert {0x1C, 0x1F, 0x85, 0x3000} <= set(expected) and 0xFEFF not in expected
    assert json.loads(result.stdout) == expected


LABEL_CHARACTERS = ["a", "é", '"', ",", ";", "\t", "|", "\r", "\n", " "]
LABELS_IN_NODE = """
import fs from 'node:fs';
import { predictionText } from '%s';
const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(([label, delimiter, padding]) => [
  predictionText({ label, probability: 0.25 }, delimiter, padding), predictionText(undefined, delimiter, padding)])));
"""


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet=st.sampled_from(LABEL_CHARACTERS), max_size=6), st.sampled_from(",;\t|"),
                          st.integers(0, 3)), min_size=1, max_size=50))  # fmt: skip
def test_prediction_fields_are_classifys(cases):
    """The page inserts what classify's prediction_fields does: padding delimiters, then the label (quoted by
    csv_field when it holds the delimiter, a quote, CR or LF) and the probability, or two empty fields."""
    script = LABELS_IN_NODE % (WEB_DIR / "csv_file.js").as_uri()
    result = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(cases).encode(),
                            capture_output=True, timeout=60, check=False)  # fmt: skip
    _check(result, "csv_file.js in node")
    log_probs = np.log(np.array([[0.25], [np.nan]], dtype=np.float32))  # a prediction (0.25), then none
    for (label, delimiter, padding), shown in zip(cases, json.loads(result.stdout), strict=True):
        fields, lengths = prediction_fields(log_probs, [label], 1, np.array([padding, padding]), delimiter)
        expected = [bytes(fields[: lengths[0]]).decode(), bytes(fields[lengths[0] :]).decode()]
        assert shown == expected, (label, delimiter, padding)


READ_IN_NODE = """
import fs from 'node:fs';
import { csvRecords, openCsv } from '%s';
const attempt = (read) => { try { return read(); } catch (error) { return { error: error.message }; } };
const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map(([text, delimiter]) => ({
  records: attempt(() => [...csvRecords(text, delimiter)].map(({ fields }) => fields)),
  delimiter: attempt(() => openCsv(text).delimiter),
}))));
"""
TOKENS = st.sampled_from(["a", "é", "😀", '"', ",", ";", "\t", "|", "\r", "\n", "\r\n", " ", "sep=", "\x00"])


def _classify_reading(text: str, delimiter: str) -> dict:
    """The records csv.reader reads (None where classify refuses them: a quoted field never closed), and the
    delimiter classify settles for the text (None where it refuses the text's dialect or header)."""
    data = text.encode()
    try:
        start = 0
        while start < len(data):
            start = exact_record(data, start, ord(delimiter), final=True).end
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except UnclosedQuoteError:
        records = None
    try:
        detected = read_csv_input(io.BytesIO(data), "fuzz").delimiter
    except InputError:
        detected = None
    return {"records": records, "delimiter": detected}


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.lists(TOKENS, max_size=24).map("".join), st.sampled_from(",;\t|")), max_size=150))
def test_page_reads_records_as_the_csv_module_and_dialects_as_classify(texts):
    """csvRecords equals csv.reader on arbitrary text (refusing exactly the quoted fields classify refuses), and
    openCsv settles the delimiter (sep= line, else the header line) as classify does or refuses with it."""
    script = READ_IN_NODE % (WEB_DIR / "csv_file.js").as_uri()
    result = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(texts).encode(),
                            capture_output=True, timeout=60, check=False)  # fmt: skip
    _check(result, "csv_file.js in node")
    for (text, delimiter), page in zip(texts, json.loads(result.stdout), strict=True):
        expected = _classify_reading(text, delimiter)
        if expected["records"] is None:
            assert "never closed" in page["records"]["error"], text
        else:
            assert page["records"] == expected["records"], text
        shown = page["delimiter"] if isinstance(page["delimiter"], str) else None
        assert shown == expected["delimiter"], (text, page["delimiter"])


DECODE_IN_NODE = """
import fs from 'node:fs';
import { decodeCsv } from '%s';
const files = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(files.map((hex) => {
  try { return { text: decodeCsv(Uint8Array.from(Buffer.from(hex, 'hex'))) }; }
  catch (error) { return { error: error.message }; }
})));
"""
ENCODED = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "utf-16": "utf-16", "utf-16-be": "utf-16-be",
           "utf-32": "utf-32", "utf-32-be": "utf-32-be", "utf-16-le without a mark": "utf-16-le",
           "utf-32-be without a mark": "utf-32-be"}  # fmt: skip


def test_the_page_decodes_as_classify_or_refuses():
    """A UTF-32 file (mark FF FE 00 00) was read as UTF-16 LE: a NUL after every letter. The page reads a file's
    letters as classify does, or refuses it (no browser decodes UTF-32; text without its mark is refused)."""
    import codecs

    text = "name,id\nSmith,1\nDvořák,2\n"
    marks = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-32-be": codecs.BOM_UTF32_BE}
    files = {case: marks.get(case, b"") + text.encode(codec) for case, codec in ENCODED.items()}
    script = DECODE_IN_NODE % (WEB_DIR / "csv_file.js").as_uri()
    result = subprocess.run(["node", "--input-type=module", "-e", script],
                            input=json.dumps([data.hex() for data in files.values()]).encode(), capture_output=True,
                            timeout=60, check=False)  # fmt: skip
    _check(result, "csv_file.js in node")
    page = dict(zip(files, json.loads(result.stdout), strict=True))
    for case in ("utf-8", "utf-8-sig", "utf-16", "utf-16-be"):
        assert page[case]["text"].removeprefix("\ufeff") == text, case
    for case, shown in (("utf-32", "UTF-32LE"), ("utf-32-be", "UTF-32BE")):
        assert page[case]["error"].startswith(f"the file is {shown} (its byte-order mark says so)"), page[case]
    for case in ("utf-16-le without a mark", "utf-32-be without a mark"):
        assert "without a byte-order mark" in page[case]["error"], case
        with pytest.raises(InputError, match="without a byte-order mark"):
            read_csv_input(io.BytesIO(files[case]), "t")  # classify refuses it too
