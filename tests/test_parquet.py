"""Parquet in and out of `classify`: every column and type kept, CSV <-> Parquet in one run, the same predictions
as the CSV path, Dask equal to the local engine row for row, and bad Parquet refused in one line."""

from __future__ import annotations

import csv
import datetime
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.classify.arrow_stages import encode_arrow_names
from rnnexport.cli.app import main
from rnnexport.text.alphabet import ALPHABET
from rnnexport.text.encode import encode_ragged
from tests.test_csv_stream import LetterRuntime

NAMES = ["Smith", "Łukasz", None, 'O"Brien', "🙂", "", "  ", "Nguyễn", "van Dijk", "Weiß", "a,b", "Kim\nLee"]


def classify(args: list[str], input_text: str | None = None):
    return CliRunner().invoke(main, ["classify", *args], input=input_text, catch_exceptions=False)


def typed_table(names: list[str | None], seed: int = 0) -> pa.Table:
    """Names beside columns of many types, nulls included (what a real Parquet file holds)."""
    rng = np.random.default_rng(seed)
    count = len(names)
    return pa.table({
        "id": pa.array(np.arange(count), pa.int64()),
        "name": pa.array(names, pa.large_string()),
        "seen": pa.array([datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=i) for i in range(count)],
                         pa.timestamp("us", tz="UTC")),
        "score": pa.array([None if i % 5 == 0 else float(value) for i, value in enumerate(rng.random(count))]),
        "tags": pa.array([[f"t{i}", "x"] if i % 3 else [] for i in range(count)], pa.list_(pa.string())),
        "country": pa.array(["PL", "DE", "VN"] * (count // 3) + ["PL"] * (count % 3)).dictionary_encode(),
        "flag": pa.array([i % 2 == 0 for i in range(count)]),
    })  # fmt: skip


def write_parquet(path: Path, table: pa.Table, row_group_size: int) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def csv_of_names(path: Path, names: list[str | None]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name"])
        writer.writerows([[name or ""] for name in names])
    return path


def csv_predictions(path: Path, delimiter: str = ",") -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row["language"], row["probability"]) for row in csv.DictReader(handle, delimiter=delimiter)]


def parquet_predictions(table: pa.Table) -> list[tuple[str, str]]:
    """(language, probability as classify's CSV writes it: 6 decimals) per row; ('', '') for no prediction."""
    languages, probabilities = table.column("language").to_pylist(), table.column("probability").to_pylist()
    return [("", "") if p is None else (label, f"{p:.6f}") for label, p in zip(languages, probabilities, strict=True)]


# --- the fast path for Arrow names equals the library fold ------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8"), max_size=12)), max_size=30),
    offset=st.integers(0, 3),
    kind=st.sampled_from(["string", "large_string", "string_view", "dictionary"]),
)
def test_arrow_names_encode_like_python_strings(names, offset, kind):
    """Any text, nulls, a sliced array and every text type give what encode_ragged gives the same strings."""
    array = pa.array(["pad"] * offset + names, pa.large_string() if kind == "large_string" else pa.string())
    if kind == "string_view":
        array = array.cast(pa.string_view())
    elif kind == "dictionary":
        array = array.dictionary_encode()
    array = array.slice(offset)
    expected = encode_ragged([name or "" for name in names], ALPHABET).padded()
    actual = encode_arrow_names(array, ALPHABET)
    np.testing.assert_array_equal(actual.padded().indices, expected.indices)
    np.testing.assert_array_equal(actual.lengths, expected.lengths)
    np.testing.assert_array_equal(actual.lost, encode_ragged([name or "" for name in names], ALPHABET).lost)


# --- Parquet in, Parquet out ------------------------------------------------------------------------------------------


def test_parquet_to_parquet_keeps_every_column_type_and_row(tiny_model_dir, tmp_path):
    names = (NAMES * 40)[:450]
    table = typed_table(names).replace_schema_metadata({"origin": "registry export"})
    source = write_parquet(tmp_path / "in.parquet", table, row_group_size=100)
    result = classify([str(source), "-o", str(tmp_path / "out.parquet"), "--model-dir", str(tiny_model_dir),
                       "--top-k", "2", "--chunk-rows", "60"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "450 records in, 450 rows out" in result.stderr and "Parquet -> Parquet" in result.stderr
    output = pq.ParquetFile(tmp_path / "out.parquet")
    written = output.read()
    assert written.schema.names == [*table.schema.names, "language", "probability", "language_2", "probability_2"]
    assert written.select(table.schema.names).equals(table)  # values, types and nulls, exactly
    assert written.schema.metadata[b"origin"] == b"registry export"
    assert written.schema.field("probability").type == pa.float64()
    # Chunks of 60 rows across the input's row groups of 100: one output row group per chunk.
    assert [output.metadata.row_group(i).num_rows for i in range(output.num_row_groups)] == [60] * 7 + [30]
    # The same predictions as the CSV path gives the same names.
    csv_result = classify([str(csv_of_names(tmp_path / "names.csv", names)), "-o", str(tmp_path / "names.out.csv"),
                           "--model-dir", str(tiny_model_dir), "--quiet"])  # fmt: skip
    assert csv_result.exit_code == 0
    assert parquet_predictions(written) == csv_predictions(tmp_path / "names.out.csv")
    unnamed = [i for i, name in enumerate(names) if not encode_ragged([name or ""]).lengths[0]]
    assert unnamed and all(written.column("language")[i].as_py() is None for i in unnamed)


def test_tiny_row_groups_are_read_in_whole_chunks(tiny_model_dir, tmp_path):
    """Issue 20 (11): 5,000 one-row row groups made 5,000 model calls and 5,000 output row groups (300 names/s).
    Chunks now run across row groups: one output row group per chunk of --chunk-rows, the same rows as a file of
    one row group, and a chunk's first row is counted from the file's start (errors name the right row)."""
    names = (NAMES * 500)[:5000]
    table = typed_table(names)
    tiny = write_parquet(tmp_path / "tiny.parquet", table, row_group_size=1)
    whole = write_parquet(tmp_path / "whole.parquet", table, row_group_size=5000)
    assert pq.ParquetFile(tiny).metadata.num_row_groups == 5000
    for source in (tiny, whole):
        out = tmp_path / f"{source.stem}.out.parquet"
        result = classify([str(source), "-o", str(out), "--model-dir", str(tiny_model_dir), "--chunk-rows", "2048"])
        assert result.exit_code == 0, result.output
    tiny_out, whole_out = pq.ParquetFile(tmp_path / "tiny.out.parquet"), pq.ParquetFile(tmp_path / "whole.out.parquet")
    assert [tiny_out.metadata.row_group(i).num_rows for i in range(tiny_out.num_row_groups)] == [2048, 2048, 904]
    assert tiny_out.read().equals(whole_out.read())
    blank = write_parquet(tmp_path / "blank.parquet", typed_table(["Smith"] * 4000 + ["123"]), 1)
    strict = classify([str(blank), "-o", str(tmp_path / "s.parquet"), "--model-dir", str(tiny_model_dir), "--strict"])
    assert strict.exit_code == 1 and "row 4001: name '123' has no letter" in strict.output


def test_pandas_reads_the_output_back_with_its_index(tiny_model_dir, tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"name": ["Smith", "Kim", "Nowak"], "age": [40, 31, 52]}, index=pd.Index([7, 8, 9], name="k"))
    frame.to_parquet(tmp_path / "in.parquet")
    result = classify([str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"), "--model-dir",
                       str(tiny_model_dir), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert back.index.tolist() == [7, 8, 9] and back.index.name == "k"
    assert back["age"].tolist() == [40, 31, 52] and back["language"].notna().all()


# --- CSV <-> Parquet in one run ---------------------------------------------------------------------------------------


def test_csv_to_parquet_keeps_fields_as_the_csv_module_reads_them(tiny_model_dir, tmp_path):
    text = 'id;name;note\r\n1;Smith;"a;b"\r\n2;"O""Brien"\r\n\r\n3;;x\r\n4;"Kim\nLee";""\r\n5;Łukasz;z\r\n'
    source = tmp_path / "in.csv"
    source.write_bytes(text.encode())
    result = classify([str(source), "-o", str(tmp_path / "out.parquet"), "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert "5 records in, 5 rows out" in result.stderr and "1 blank lines not written" in result.stderr
    written = pq.read_table(tmp_path / "out.parquet")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    data = [row for row in rows[1:] if row]
    for position, column in enumerate(rows[0]):
        expected = [row[position] if position < len(row) else None for row in data]  # a short record: null
        assert written.column(column).to_pylist() == expected
        assert written.schema.field(column).type == pa.string()
    classify([str(source), "-o", str(tmp_path / "out.csv"), "--model-dir", str(tiny_model_dir), "--quiet"])
    assert parquet_predictions(written) == csv_predictions(tmp_path / "out.csv", ";")


def test_a_wide_csv_keeps_every_field_in_parquet(tiny_model_dir, tmp_path):
    """300 columns, some records read by the exact reader (a stray quote), some short: every field as csv.reader
    reads it. (Reading each column used to copy the chunk's separators: 10,000 columns took 72 s, now 1.8 s.)"""
    rng = np.random.default_rng(0)
    header = ["name", *(f"c{i}" for i in range(299))]
    lines = [",".join(header)]
    for row in range(60):
        fields = ["Smith" if row % 2 else 'Kim "Jr"', *(f"{rng.integers(1000)}" for _ in range(299))]
        lines.append(",".join(fields[: 300 - (row % 7)]))  # some records short of fields
    text = "\n".join(lines) + "\n"
    (tmp_path / "wide.csv").write_text(text)
    result = classify([str(tmp_path / "wide.csv"), "-o", str(tmp_path / "wide.parquet"), "--model-dir",
                       str(tiny_model_dir), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = pq.read_table(tmp_path / "wide.parquet")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for position, column in enumerate(header):
        assert written.column(column).to_pylist() == [row[position] if position < len(row) else None
                                                      for row in rows[1:]], column  # fmt: skip


def test_parquet_to_csv_is_read_back_by_the_csv_module(tiny_model_dir, tmp_path):
    names = NAMES * 3
    table = typed_table(names).drop_columns(["tags"])
    source = write_parquet(tmp_path / "in.parquet", table, row_group_size=7)
    result = classify([str(source), "-o", str(tmp_path / "out.csv"), "--model-dir", str(tiny_model_dir),
                       "--delimiter", ";"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert list(rows[0]) == [*table.schema.names, "language", "probability"]
    assert [row["name"] for row in rows] == [name or "" for name in names]  # quotes, ; and line breaks survive
    assert [row["id"] for row in rows] == [str(i) for i in range(len(names))]
    classify([str(csv_of_names(tmp_path / "names.csv", names)), "-o", str(tmp_path / "names.out.csv"),
              "--model-dir", str(tiny_model_dir), "--quiet"])  # fmt: skip
    expected = csv_predictions(tmp_path / "names.out.csv")
    assert [(row["language"], row["probability"] and f"{float(row['probability']):.6f}") for row in rows] == expected


def test_parquet_through_a_pipe_is_named_as_such(tiny_model_dir, tmp_path):
    write_parquet(tmp_path / "in.parquet", pa.table({"name": ["Smith"]}), 10)
    result = CliRunner().invoke(main, ["classify", "-", "--model-dir", str(tiny_model_dir)],
                                input=(tmp_path / "in.parquet").read_bytes())  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: stdin is Parquet coming through a pipe; Parquet keeps its index at its end, so give the file's "
        "path (classify FILE.parquet)"
    )


def test_view_types_are_written_to_csv_as_text(tiny_model_dir, tmp_path):
    pytest.importorskip("pyarrow", minversion="21", reason="Parquet files hold string_view from pyarrow 21")
    table = pa.table({"name": pa.array(["Smith", None, "Chen"], pa.string_view()),
                      "raw": pa.array([b"a", b"b,c", None], pa.binary_view())})  # fmt: skip
    write_parquet(tmp_path / "in.parquet", table, 10)
    result = classify([str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.csv"), "--model-dir",
                       str(tiny_model_dir), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["name"], row["raw"]) for row in rows] == [("Smith", "a"), ("", "b,c"), ("Chen", "")]
    assert rows[1]["language"] == "" and rows[0]["language"] and rows[2]["language"]


def test_installed_entry_point_chooses_formats_by_file_name(tiny_model_dir, tmp_path):
    """CSV -> Parquet and Parquet -> CSV through the installed command, told nothing but the files' names."""
    rnnexport = Path(sys.executable).with_name("rnnexport")
    names = ["Smith", "Nowak", "Tanaka", "Łukasz"]
    csv_of_names(tmp_path / "in.csv", names)
    write_parquet(tmp_path / "in.pq", pa.table({"name": names}), row_group_size=2)
    for source, target in (("in.csv", "out.parquet"), ("in.pq", "out.csv")):
        subprocess.run([str(rnnexport), "classify", source, "-o", target, "--model-dir", str(tiny_model_dir),
                        "--quiet"], cwd=tmp_path, check=True, timeout=300)  # fmt: skip
    from_csv = parquet_predictions(pq.read_table(tmp_path / "out.parquet"))
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        from_parquet = [(row["language"], f"{float(row['probability']):.6f}") for row in csv.DictReader(handle)]
    assert from_csv == from_parquet and len(from_csv) == len(names)


# --- Dask agrees with the local engine --------------------------------------------------------------------------------


@pytest.mark.slow
def test_dask_matches_local_engine_for_parquet(tiny_model_dir, tmp_path):
    pytest.importorskip("distributed")
    names = [NAMES[i % len(NAMES)] if i % 11 == 0 else f"{['Ab', 'Nowak', 'Kim'][i % 3]}{'abcdefghij'[i % 10]}"
             for i in range(1200)]  # fmt: skip
    source = write_parquet(tmp_path / "in.parquet", typed_table(names), row_group_size=90)
    flat = write_parquet(tmp_path / "flat.parquet", typed_table(names).drop_columns(["tags"]), row_group_size=90)
    csv_source = csv_of_names(tmp_path / "in.csv", names)
    common = ["--model-dir", str(tiny_model_dir), "--quiet", "--chunk-rows", "50", "--top-k", "3"]
    dask = ["--engine", "dask", "--scheduler", "threads", "--workers", "2", "--blocksize", "1KB"]
    runs = {
        "parquet-local.parquet": [str(source)],
        "parquet-dask.parquet": [str(source), *dask],
        "parquet-local.csv": [str(flat)],
        "parquet-dask.csv": [str(flat), *dask],
        "csv-local.parquet": [str(csv_source)],
        "csv-dask.parquet": [str(csv_source), *dask],
    }
    for output, args in runs.items():
        result = classify([*args, "-o", str(tmp_path / output), *common])
        assert result.exit_code == 0, (output, result.output)
    for local, distributed in (("parquet-local.parquet", "parquet-dask.parquet"),
                               ("csv-local.parquet", "csv-dask.parquet")):  # fmt: skip
        expected, actual = pq.ParquetFile(tmp_path / local), pq.ParquetFile(tmp_path / distributed)
        assert actual.read().equals(expected.read())  # row for row, bit for bit
        assert actual.metadata.num_row_groups == expected.metadata.num_row_groups > 2
    assert (tmp_path / "parquet-dask.csv").read_bytes() == (tmp_path / "parquet-local.csv").read_bytes()


# --- bad input: one line, non-zero exit, nothing written --------------------------------------------------------------


def bad_parquet_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    write_parquet(tmp_path / "ints.parquet", pa.table({"name": [1, 2]}), 10)
    write_parquet(tmp_path / "nested.parquet", typed_table(["Smith", "Kim", "Lee"]), 10)
    write_parquet(tmp_path / "nulls.parquet", pa.table({"name": ["Smith", None, "Kim"]}), 10)
    (tmp_path / "fake.parquet").write_text("name\nSmith\n")
    truncated = (tmp_path / "nulls.parquet").read_bytes()
    (tmp_path / "truncated.parquet").write_bytes(truncated[: len(truncated) // 2])
    footer = bytearray((tmp_path / "nested.parquet").read_bytes())
    footer[-120:-10] = bytes(value ^ 0x55 for value in footer[-120:-10])
    (tmp_path / "footer.parquet").write_bytes(bytes(footer))
    (tmp_path / "parts").mkdir()
    os.mkfifo(tmp_path / "pipe.parquet")  # never opened for reading: a test fault would hang, not pass
    (tmp_path / "dup.csv").write_text("name,x,x\nSmith,1,2\n")
    (tmp_path / "ragged.csv").write_text("Smith\nKim,2\n")
    return {
        "text column": (["ints.parquet"], "column 'name' holds int64, not text"),
        "list to CSV": (["nested.parquet", "-o", "out.csv"], "cannot write column 'tags' (list<element: string>)"),
        "strict null": (["nulls.parquet", "--strict"], "row 2: the name is null"),
        "not parquet": (["fake.parquet"], "is not a readable Parquet file"),
        "truncated": (["truncated.parquet"], "is not a readable Parquet file"),
        "corrupt footer": (["footer.parquet"], "is not a readable Parquet file"),  # pyarrow's message: 2 lines
        "folder": (["parts"], "is a directory; give a CSV or Parquet file"),
        "fifo": (["pipe.parquet"], "pipe.parquet is Parquet coming through a pipe"),
        "stdin": (["-", "--input-format", "parquet"], "cannot be read from stdin"),
        "csv options": (["nulls.parquet", "--no-header"], "--no-header applies to CSV input only"),
        "duplicate names": (["dup.csv", "-o", "out.parquet"], "columns 2 and 3 are both called 'x'"),
        "wider record": (["ragged.csv", "--no-header", "-o", "out.parquet"], "line 2 has 2 fields, the first record"),
    }


def test_bad_parquet_input_fails_in_one_line_and_writes_nothing(tiny_model_dir, tmp_path, monkeypatch):
    cases = bad_parquet_cases(tmp_path)
    before = sorted(path.name for path in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    for label, (args, message) in cases.items():
        if "-o" not in args:
            args = [*args, "-o", "out.parquet"]
        result = classify([*args, "--model-dir", str(tiny_model_dir)], input_text="")
        assert result.exit_code == 1, (label, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], (label, lines)
        assert sorted(path.name for path in tmp_path.iterdir()) == before, label


# --- the real data set ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_name_of_the_data_set_through_parquet_with_check(real_names_dir, committed_model_dir, tmp_path):
    pairs = [(path.stem, line) for path in sorted(real_names_dir.glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]  # fmt: skip
    labels, names = zip(*pairs, strict=True)
    table = pa.table({"label": list(labels), "name": list(names)})
    write_parquet(tmp_path / "names.parquet", table, row_group_size=4096)
    result = classify([str(tmp_path / "names.parquet"), "-o", str(tmp_path / "out.parquet"), "--check",
                       "--model-dir", str(committed_model_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(names)} records in, {len(names)} rows out" in result.stderr
    assert "0 top-1 disagreements" in result.stderr and ": ok" in result.stderr
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.select(["label", "name"]).equals(table)


def test_headerless_csv_into_parquet_after_blank_lines_does_not_depend_on_chunk_rows(tiny_model_dir, tmp_path):
    """`--no-header` into Parquet failed with "line 3 has 2 fields, the first record has 1" under --chunk-rows 1
    or 2 when the file starts with blank lines (line 3 is the first record): the width came from a chunk of
    blank lines. Through the installed entry point."""
    (tmp_path / "blank.csv").write_text("\n\nSmith,1\nDvořák,2\nKim\n", encoding="utf-8")
    rnnexport = str(Path(sys.executable).parent / "rnnexport")
    tables = []
    for chunk_rows in ("1", "2", "3", "200000"):
        out = tmp_path / f"out-{chunk_rows}.parquet"
        result = subprocess.run([rnnexport, "classify", "blank.csv", "--no-header", "-o", out.name, "--chunk-rows",
                                 chunk_rows, "--model-dir", str(tiny_model_dir), "--quiet"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        tables.append(pq.read_table(out).to_pylist())
    assert all(table == tables[0] for table in tables)
    assert [(row["column_1"], row["column_2"]) for row in tables[0]] == [("Smith", "1"), ("Dvořák", "2"), ("Kim", None)]


def headerless_outcome(text: str, chunk_rows: int, folder: Path) -> tuple[str, object]:
    """('rows', the Parquet rows) or ('error', the message) of classify --no-header into Parquet."""
    from rnnexport.classify.options import ClassifyOptions
    from rnnexport.classify.pipeline import classify_local
    from rnnexport.errors import InputError

    (folder / "in.csv").write_text(text, encoding="utf-8", newline="")
    out = folder / f"out-{chunk_rows}.parquet"
    try:
        classify_local(str(folder / "in.csv"), str(out), LetterRuntime(),
                       ClassifyOptions(header=False, chunk_rows=chunk_rows))  # fmt: skip
    except InputError as error:
        return "error", str(error)
    return "rows", pq.read_table(out).to_pylist()


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.one_of(st.just(""), st.lists(st.sampled_from(["Kim", "Łukasz", "", "1"]), min_size=1,
                                                          max_size=3).map(",".join)), min_size=1, max_size=9),
       chunk_rows=st.integers(1, 5))  # fmt: skip
def test_headerless_parquet_output_never_depends_on_chunk_rows(tmp_path_factory, lines, chunk_rows):
    """Any mix of blank lines and records of 1-3 fields: the same rows (or the same error) at every chunk size."""
    folder = tmp_path_factory.mktemp("headerless")
    text = "\n".join(lines) + "\n"
    assert headerless_outcome(text, chunk_rows, folder) == headerless_outcome(text, 200_000, folder)
