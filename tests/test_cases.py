"""Real-world CSV shapes (../shared/cases/csv, see its README) through the installed entry point; both engines on
bad input and on arbitrary bytes."""

from __future__ import annotations

import codecs
import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rnnexport.classify.options import ClassifyOptions
from rnnexport.classify.pipeline import classify_local
from rnnexport.classify.predict import predict_top_k
from rnnexport.errors import InputError
from rnnexport.runtimes.registry import open_runtime
from rnnexport.text.fold import fold

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "csv"
ENTRY_POINT = str(Path(sys.executable).parent / "rnnexport")
needs_cases = pytest.mark.skipif(not CASES.is_dir(), reason=f"the shared CSV cases folder {CASES} is absent")
EUROPEAN = ["Müller", "Dvořák", "Nakamura", "O'Brien"]


def run_classify(path: Path, model_dir: Path, *options: str) -> subprocess.CompletedProcess:
    command = [ENTRY_POINT, "classify", str(path), "--model-dir", str(model_dir), *options]
    return subprocess.run(command, capture_output=True, timeout=120)


def output_rows(result: subprocess.CompletedProcess, delimiter: str) -> list[list[str]]:
    assert result.returncode == 0, result.stderr.decode()
    return list(csv.reader(io.StringIO(result.stdout.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def languages(names: list[str], model_dir: Path) -> list[str]:
    """What the model says for each plain name, one by one."""
    return [p.top[0][0] if p.top else "" for p in predict_top_k(names, model_dir, top_k=1)]


def assert_classified(rows: list[list[str]], header: list[str], column: int, names: list[str], model_dir: Path):
    """The header, then one row per name: the name as written and the plain name's language."""
    assert rows[0] == [*header, "language", "probability"]
    data = [row for row in rows[1:] if row]
    assert [row[column] for row in data] == names
    assert [row[-2] for row in data] == languages(names, model_dir)
    assert all(len(row) == len(header) + 2 for row in data)


CASE_TABLE = {  # file: (delimiter, header, name column, names), the right reading per the cases README
    "stray-quote-midfield.csv": (",", ["id", "name", "note"], 1,
                                 ["Rossi", "Smith", "Kowalski", "Nakamura", "Dubois", "Garcia"]),
    "cr-only-line-ends-mac-excel.csv": (",", ["id", "name", "city"], 1, EUROPEAN),
    "utf16le-bom-excel-export.csv": (",", ["id", "name", "city"], 1, EUROPEAN),
    "semicolon-separated-european-excel.csv": (";", ["id", "name", "city"], 1, EUROPEAN),
    "sep-hint-semicolon-first-line.csv": (";", ["id", "name", "city"], 1, ["Müller", "Nakamura"]),
    "blank-lines-between-rows.csv": (",", ["id", "name"], 1, ["Rossi", "Nakamura"]),
    "duplicate-and-padded-header.csv": (",", ["id", " Name ", "name"], 2, ["Rossi", "Dubois"]),
}  # fmt: skip


@needs_cases
@pytest.mark.parametrize("file_name", sorted(CASE_TABLE))
def test_case_files(file_name, tiny_model_dir):
    delimiter, header, column, names = CASE_TABLE[file_name]
    result = run_classify(CASES / file_name, tiny_model_dir)
    assert_classified(output_rows(result, delimiter), header, column, names, tiny_model_dir)
    # a byte-order mark in, UTF-8's out: Excel reads a UTF-8 file's letters right only with it
    had_bom = (CASES / file_name).read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF8[:2])
    assert result.stdout.startswith(codecs.BOM_UTF8) == had_bom
    summary = result.stderr.decode()
    assert f"{len(names)} records in, {len(names)} rows out" in summary
    assert "latin-1" not in summary


@needs_cases
def test_case_line_ends_blank_lines_and_strict(tiny_model_dir):
    cr_only = run_classify(CASES / "cr-only-line-ends-mac-excel.csv", tiny_model_dir, "--quiet").stdout
    assert cr_only.count(b"\r") == 5 and b"\n" not in cr_only  # each record keeps its own CR
    blank = run_classify(CASES / "blank-lines-between-rows.csv", tiny_model_dir, "--strict")
    assert blank.returncode == 0 and "3 blank lines copied" in blank.stderr.decode()
    assert blank.stdout.split(b"\n")[2] == b""  # the blank line stays where it was, without predictions
    hinted = run_classify(CASES / "sep-hint-semicolon-first-line.csv", tiny_model_dir, "--quiet").stdout
    assert not hinted.startswith(b"sep=") and b";" in hinted.split(b"\r\n")[1]


@needs_cases
def test_case_quoted_name_over_the_csv_field_limit(tiny_model_dir):
    path = CASES / "quoted-name-over-csv-field-limit.csv"
    limit = csv.field_size_limit(1 << 30)
    try:
        records = list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))
        rows = output_rows(run_classify(path, tiny_model_dir), ",")
    finally:
        csv.field_size_limit(limit)
    names = [record[1] for record in records[1:]]
    assert max(map(len, names)) >= 200_000
    assert_classified(rows, records[0], 1, names, tiny_model_dir)
    assert run_classify(path, tiny_model_dir, "--quiet").stdout.count(b"\n") == len(records)


def test_equally_matching_columns_are_an_error_naming_their_numbers(tiny_model_dir, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("id, Name ,NAME\n1,Smith,Kim\n")
    result = run_classify(path, tiny_model_dir)
    message = result.stderr.decode().strip()
    assert result.returncode == 1 and message.count("\n") == 0
    assert message == f"Error: {path}: columns 2 (' Name ') and 3 ('NAME') both match; choose one by position: " \
        "--column 2 or --column 3"  # fmt: skip
    rows = output_rows(run_classify(path, tiny_model_dir, "--column", "3"), ",")
    assert rows[1][:3] == ["1", "Smith", "Kim"] and rows[1][3] == languages(["Kim"], tiny_model_dir)[0]


@needs_cases
def test_case_unfoldable_letters(tiny_model_dir):
    assert [fold(name) for name in ("O’Brien", "Łukasz", "Søren", "Weiß")] == [
        "O'Brien",
        "Lukasz",
        "Soren",
        "Weiss",
    ]
    rows = output_rows(run_classify(CASES / "unfoldable-letters-curly-apostrophe.csv", tiny_model_dir), ",")
    by_name = {row[0]: row[1:] for row in rows[1:]}
    for written, plain in [("O’Brien", "O'Brien"), ("Łukasz", "Lukasz"), ("Søren", "Soren"), ("Weiß", "Weiss")]:
        assert by_name[written] == by_name[plain], written


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_no_header_and_delimiter_options(tiny_model_dir, tmp_path, delimiter):
    path = tmp_path / "plain.txt"
    path.write_text(f"Smith{delimiter}x\nKim{delimiter}y\n")
    option = {"\t": "tab", ";": ";", "|": "|"}[delimiter]
    rows = output_rows(run_classify(path, tiny_model_dir, "--no-header", "--delimiter", option), delimiter)
    assert [row[:2] for row in rows] == [["Smith", "x"], ["Kim", "y"]]
    assert [row[2] for row in rows] == languages(["Smith", "Kim"], tiny_model_dir)


# --- both engines ---------------------------------------------------------------------------------------------------

BAD_INPUTS = {  # test_classify's bad inputs, and the README's, as (bytes, options)
    "invalid utf-8": (b"name\nSmith\nM\xfcller\n", {}),
    "mixed encodings": ("name\nMüller\n".encode() + b"M\xfcller\n", {}),
    "no letter, strict": (b"name,n\n,1\nSmith,2\n", {"strict": True}),
    "missing column": (b"id,name\n1,Smith\n", {"column": "surname"}),
    "ambiguous columns": (b"first,last\nA,Smith\n", {}),
    "too many fields": (b"name,id\nSmith,1\nKim,2,3\n", {}),
    "unclosed quote": (b'name,note\nSmith,"open\nKim,x\n', {}),
    "blank header": (b"\nname\nSmith\n", {}),
    "non-text encoding": (b"name\nSmith\n", {"encoding": "hex"}),
    "unknown encoding": (b"name\nSmith\n", {"encoding": "klingon"}),
    "undecodable utf-16": (b"\xff\xfen\x00a\x00\n\x00\x00\xd8", {}),
}


@pytest.mark.parametrize("label", sorted(BAD_INPUTS))
def test_both_engines_refuse_bad_input_alike(label, tiny_model_dir, tmp_path):
    pytest.importorskip("distributed")
    from rnnexport.classify.pipeline import classify_dask

    data, settings_ = BAD_INPUTS[label]
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    options = ClassifyOptions(chunk_rows=1, **settings_)
    with pytest.raises(InputError) as local:
        classify_local(str(path), str(tmp_path / "local.csv"), open_runtime("onnx", tiny_model_dir), options)
    with pytest.raises(InputError) as dask:
        classify_dask(str(path), str(tmp_path / "dask.csv"), options, model_dir=tiny_model_dir,
                          scheduler="sync", blocksize=1)  # fmt: skip
    assert str(dask.value) == str(local.value) and "\n" not in str(local.value)
    assert not (tmp_path / "local.csv").exists() and not (tmp_path / "dask.csv").exists()


TOKENS = st.sampled_from([b"a", b'"', b",", b";", b"\r", b"\n", b" ", "é".encode(), b"\x00", b"\x1a"])


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(TOKENS, min_size=1, max_size=30), chunk_rows=st.integers(1, 5),
       blocksize=st.integers(1, 40), header=st.booleans())  # fmt: skip
# Found by this test: a partition's reader dropped a Ctrl-Z the driver's reader had kept as data; a chunk whose
# names all lack a letter.
@example(pieces=[b"a", b"\x1a", b"\x1a"], chunk_rows=1, blocksize=1, header=False)
@example(pieces=[b"\x00", b"\n", b" "], chunk_rows=1, blocksize=1, header=False)
def test_dask_output_equals_the_local_engine_on_any_bytes(tiny_model_dir, tmp_path, pieces, chunk_rows, blocksize,
                                                          header):  # fmt: skip
    pytest.importorskip("distributed")
    from rnnexport.classify.pipeline import classify_dask

    path = tmp_path / "any.csv"
    path.write_bytes(b"".join(pieces))
    options = ClassifyOptions(chunk_rows=chunk_rows, header=header, delimiter=",")
    outcomes = []
    for engine in ("local", "dask"):
        output = tmp_path / f"{engine}.csv"
        output.unlink(missing_ok=True)
        try:
            if engine == "local":
                classify_local(str(path), str(output), open_runtime("onnx", tiny_model_dir), options)
            else:
                classify_dask(str(path), str(output), options, model_dir=tiny_model_dir, scheduler="sync",
                                  blocksize=blocksize)  # fmt: skip
            outcomes.append(output.read_bytes())
        except InputError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
