import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.classify.csv_output import PROBABILITY_DECIMALS
from rnnexport.classify.summary import RATE_MIN_SECONDS, ClassifySummary
from rnnexport.cli.app import main
from rnnexport.text.encode import encode_ragged
from tests.helpers import assert_parity, assert_printed_probabilities, reference_log_probs, tamper_onnx_weight

RUNTIMES = ["onnx", "torchscript", "torch"]
NAMES = ["Dvořák", "Müller", "O'Néill", "Nguyễn", "Yue Tingsong", "Smith", "Abandonato", "Tanaka", "Kim", "Schmidt"]
ENTRY_POINT = str(Path(sys.executable).parent / "rnnexport")


def classify(args, input_text=None):
    return CliRunner().invoke(main, ["classify", *args], input=input_text)


@pytest.fixture
def names_csv(tmp_path):
    path = tmp_path / "names.csv"
    pd.DataFrame({"id": range(len(NAMES)), "name": NAMES}).to_csv(path, index=False)
    return path


def read_output(text_or_path) -> pd.DataFrame:
    source = io.StringIO(text_or_path) if isinstance(text_or_path, str) else text_or_path
    return pd.read_csv(source, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_gives_the_same_labels(tiny_model_dir, names_csv, tmp_path, runtime):
    out = tmp_path / f"{runtime}.csv"
    result = classify([str(names_csv), "-o", str(out), "--runtime", runtime, "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    frame = read_output(out)
    assert list(frame.columns) == ["id", "name", "language", "probability"]
    assert frame["name"].tolist() == NAMES
    encoded = encode_ragged(NAMES).padded()
    reference = reference_log_probs(tiny_model_dir, encoded.indices, encoded.lengths)
    labels = json.loads((tiny_model_dir / "manifest.json").read_text())["labels"]
    assert frame["language"].tolist() == [labels[i] for i in reference.argmax(axis=1)]
    printed = frame["probability"].astype(float).to_numpy()
    assert_printed_probabilities(printed, reference.max(axis=1), PROBABILITY_DECIMALS, runtime)


def test_onnx_cell_graph_agrees(tiny_model_dir, names_csv):
    sequence = classify([str(names_csv), "--model-dir", str(tiny_model_dir)])
    cell = classify([str(names_csv), "--onnx-graph", "cell", "--model-dir", str(tiny_model_dir)])
    assert read_output(sequence.stdout)["language"].tolist() == read_output(cell.stdout)["language"].tolist()


def test_check_passes_on_good_artifacts(tiny_model_dir, names_csv):
    result = classify([str(names_csv), "--check", "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert "0 top-1 disagreements" in result.stderr and ": ok" in result.stderr


@pytest.mark.parametrize(
    ("tampered", "flags"), [("char_rnn_step.onnx", []), ("char_rnn.onnx", ["--no-prefix-sharing"])]
)  # the file each path reads: prefix sharing (the default) the step graph, the per-name path the sequence graph
def test_check_exits_3_on_tampered_weights_and_still_writes(model_copy, names_csv, tmp_path, tampered, flags):
    tamper_onnx_weight(model_copy, tampered)
    out = tmp_path / "out.csv"
    result = classify([str(names_csv), "-o", str(out), "--check", "--model-dir", str(model_copy), *flags])
    assert result.exit_code == 3
    assert "MISMATCH" in result.stderr
    assert len(read_output(out)) == len(NAMES)


def test_top_k_columns(tiny_model_dir, names_csv):
    result = classify([str(names_csv), "--top-k", "3", "--model-dir", str(tiny_model_dir)])
    frame = read_output(result.stdout)
    assert list(frame.columns)[2:] == [
        "language", "probability", "language_2", "probability_2", "language_3", "probability_3",
    ]  # fmt: skip
    probabilities = frame[["probability", "probability_2", "probability_3"]].astype(float).to_numpy()
    assert (np.diff(probabilities, axis=1) <= 0).all()
    assert (frame["language"] != frame["language_2"]).all()


def test_order_preserved_on_a_shuffled_file(tiny_model_dir, tmp_path):
    rng = np.random.default_rng(0)
    names = ["".join(rng.choice(list("abcdefghijklmnop"), size=rng.integers(1, 25))) for _ in range(3000)]
    path = tmp_path / "shuffled.csv"
    pd.DataFrame({"name": names, "row": range(3000)}).to_csv(path, index=False)
    result = classify([str(path), "--model-dir", str(tiny_model_dir), "--chunk-rows", "700", "--batch-size", "64"])
    frame = read_output(result.stdout)
    assert frame["row"].tolist() == [str(i) for i in range(3000)]
    assert frame["name"].tolist() == names
    single = read_output(classify([str(path), "--model-dir", str(tiny_model_dir), "--batch-size", "1"]).stdout)
    assert single["language"].tolist() == frame["language"].tolist()


def test_stdin_to_stdout(tiny_model_dir):
    result = classify(["-", "--model-dir", str(tiny_model_dir), "--quiet"], input_text="name\nSmith\nKim\n")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "name,language,probability"
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr == ""


def test_summary_line(tiny_model_dir, names_csv):
    result = classify([str(names_csv), "--model-dir", str(tiny_model_dir)])
    assert "10 records in, 10 rows out (0 skipped: no letter)" in result.stderr
    assert "s since the command started (" in result.stderr and "CSV (comma) -> CSV" in result.stderr
    assert "names/s" not in result.stderr  # 10 names: a rate would measure start-up, not the rate


def test_summary_time_is_the_commands_wall_time_and_a_rate_only_after_a_second():
    # issue 23: "in 0.22 s, 50 names/s" for a run of 7.2 s; "2 names/s" on a 3-row file.
    summary = ClassifySummary(rows=3, records=3, seconds=0.22, runtime="torchscript", column="name")
    assert summary.timing(7.21) == "7.21 s since the command started (0.22 s classifying)"
    assert summary.rate_to_show is None and summary.names_per_second == 3 / 0.22  # benchmarks' figure
    assert summary.timing(None).endswith("s since the command started (0.22 s classifying)")  # this process's
    long = ClassifySummary(rows=1_500_000, records=1_500_000, seconds=RATE_MIN_SECONDS * 3)
    assert long.timing(3.9) == "3.90 s since the command started (3.00 s classifying: 500,000 names/s)"
    line = summary.describe("local", 7.21)
    assert line.startswith("3 records in, 3 rows out (0 skipped: no letter) in 7.21 s since the command started")


def test_installed_classify_reports_the_wall_time_of_the_whole_command(tiny_model_dir, names_csv):
    import re

    started = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).parent / "rnnexport"), "classify", str(names_csv),
                             "--model-dir", str(tiny_model_dir), "-o", os.devnull], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    outside = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    wall, engine = map(float, re.search(r"in ([\d.]+) s since the command started \(([\d.]+) s classifying\)",
                                       result.stderr).groups())  # fmt: skip
    # the process started after `started` and printed the line before it ended; start-up is counted
    assert engine <= wall <= outside + 0.05  # /proc counts in clock ticks (10 ms)


# --- bad input: each a clear one-line error (exit 1) or the documented behaviour ---


def assert_one_line_error(result, fragment):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert fragment in lines[0]


def test_missing_file(tiny_model_dir, tmp_path):
    assert_one_line_error(classify([str(tmp_path / "nope.csv"), "--model-dir", str(tiny_model_dir)]), "not found")


def test_directory(tiny_model_dir, tmp_path):
    assert_one_line_error(classify([str(tmp_path), "--model-dir", str(tiny_model_dir)]), "is a directory")


def test_zero_byte_file(tiny_model_dir, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert_one_line_error(classify([str(path), "--model-dir", str(tiny_model_dir)]), "is empty (0 bytes)")


def test_header_only_gives_header_only_output(tiny_model_dir, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("id,name\n")
    out = tmp_path / "out.csv"
    result = classify([str(path), "-o", str(out), "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "id,name,language,probability\n"


def test_missing_column_lists_columns(tiny_model_dir, names_csv):
    result = classify([str(names_csv), "--column", "surname", "--model-dir", str(tiny_model_dir)])
    assert_one_line_error(result, "column 'surname' not found; columns are: id, name")


def test_ambiguous_columns_suggest_column_option(tiny_model_dir, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("first,last\nA,Smith\n")
    result = classify([str(path), "--model-dir", str(tiny_model_dir)])
    assert_one_line_error(result, "columns are: first, last; use --column")
    ok = classify([str(path), "--column", "last", "--model-dir", str(tiny_model_dir)])
    assert ok.exit_code == 0 and read_output(ok.stdout)["last"].tolist() == ["Smith"]


def test_name_column_any_case_and_single_column(tiny_model_dir, tmp_path):
    path = tmp_path / "case.csv"
    path.write_text("ID,Name\n1,Smith\n")
    assert classify([str(path), "--model-dir", str(tiny_model_dir)]).exit_code == 0
    single = tmp_path / "single.csv"
    single.write_text("surname\nSmith\n")
    assert classify([str(single), "--model-dir", str(tiny_model_dir)]).exit_code == 0


def test_blank_nan_digit_and_emoji_names_are_skipped_not_guessed(tiny_model_dir, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("name,n\n,1\nNaN,2\n   ,3\n12345,4\n😀😀,5\nNA,6\nSmith,7\n", encoding="utf-8")
    result = classify([str(path), "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    frame = read_output(result.stdout).iloc[[0, 2, 3, 4, 1, 5, 6]]
    assert frame["name"].tolist() == ["", "   ", "12345", "😀😀", "NaN", "NA", "Smith"]
    assert frame["language"].tolist()[:4] == [""] * 4 and frame["probability"].tolist()[:4] == [""] * 4
    assert all(frame["language"].iloc[i] != "" for i in (4, 5, 6))  # 'NaN' and 'NA' are names made of letters
    assert "(4 skipped: no letter) in" in result.stderr  # the digits and emoji are skipped, not also "lost"
    strict = classify([str(path), "--strict", "--model-dir", str(tiny_model_dir)])
    assert_one_line_error(strict, "line 2: name '' has no letter")


def test_a_100000_character_name(tiny_model_dir, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("name\nSmith\n" + "ab" * 50_000 + "\nKim\n")
    result = classify([str(path), "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert read_output(result.stdout)["language"].ne("").all()


def test_invalid_utf8_names_the_line(tiny_model_dir, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name\nSmith\nMüller\n".encode("latin-1"))
    result = classify([str(path), "--model-dir", str(tiny_model_dir)])
    assert_one_line_error(result, "line 3 is not valid utf-8; pass --encoding with the encoding the file was saved in")
    ok = classify([str(path), "--encoding", "latin-1", "--model-dir", str(tiny_model_dir)])
    assert read_output(ok.stdout)["name"].tolist() == ["Smith", "Müller"]


def test_bom_crlf_and_quoted_fields(tiny_model_dir, tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes('\ufeffname,note\r\n"Smith, John","a\r\nb"\r\nKim,x\r\n'.encode())
    result = classify([str(path), "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    frame = read_output(result.stdout)
    assert list(frame.columns)[:2] == ["name", "note"]
    assert frame["name"].tolist() == ["Smith, John", "Kim"]
    assert frame["note"].tolist()[0].replace("\r", "") == "a\nb"


def test_500_columns(tiny_model_dir, tmp_path):
    frame = pd.DataFrame({f"c{i}": [str(i)] * 3 for i in range(499)})
    frame.insert(250, "name", ["Smith", "Kim", "Tanaka"])
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    out = read_output(classify([str(path), "--model-dir", str(tiny_model_dir)]).stdout)
    assert list(out.columns) == [*frame.columns, "language", "probability"]


def test_numeric_looking_values_are_kept_verbatim(tiny_model_dir, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("name,zip\n007,00123\n1e5,1.50\nSmith,-0\n")
    out = read_output(classify([str(path), "--model-dir", str(tiny_model_dir)]).stdout)
    assert out["name"].tolist() == ["007", "1e5", "Smith"] and out["zip"].tolist() == ["00123", "1.50", "-0"]
    assert out["language"].tolist()[0] == "" and out["language"].tolist()[1] != ""  # '1e5' has the letter e


def test_failed_run_leaves_existing_output_untouched(tiny_model_dir, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"name\n" + b"Smith\n" * 10 + b"M\xfcller\n")
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    result = classify([str(path), "-o", str(out), "--chunk-rows", "3", "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 1
    assert out.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_onnx_runtime_never_imports_torch(tiny_model_dir, names_csv):
    code = (
        "import sys\nfrom rnnexport.cli.app import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    args = ["classify", str(names_csv), "--model-dir", str(tiny_model_dir), "--quiet"]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == "False"
    checked = subprocess.run([sys.executable, "-c", code, *args, "--check"], capture_output=True, text=True)
    assert checked.stderr.strip().splitlines()[-1] == "True"


def test_installed_entry_point(tiny_model_dir, names_csv, tmp_path):
    out = tmp_path / "out.csv"
    result = subprocess.run(
        [ENTRY_POINT, "classify", str(names_csv), "-o", str(out), "--model-dir", str(tiny_model_dir), "--top-k", "2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "name", "language", "probability", "language_2", "probability_2"]
    assert len(rows) == len(NAMES) + 1


def test_predict_command(tiny_model_dir):
    result = CliRunner().invoke(main, ["predict", "Yue Tingsong", "😀", "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("Yue Tingsong: ") and lines[0].count(",") == 2
    assert lines[1] == "😀: no prediction (no letter of the alphabet)"


@pytest.mark.slow
def test_sigint_leaves_no_partial_output(tiny_model_dir, tmp_path):
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(1)
    letters = np.array(list("abcdefghij"))
    names = ["".join(row) for row in rng.choice(letters, size=(400_000, 8))]
    pd.DataFrame({"name": names}).to_csv(path, index=False)
    out = tmp_path / "out.csv"
    process = subprocess.Popen(
        [ENTRY_POINT, "classify", str(path), "-o", str(out), "--model-dir", str(tiny_model_dir),
         "--chunk-rows", "20000", "--runtime", "torch"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.returncode != 0
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert os.path.getsize(path) > 0


def test_names_over_the_prefix_limit_go_per_name(tiny_model_dir, monkeypatch):
    """A 100,000-letter name would make one trie level per letter (13.9 s and 1.25 GB for a 1 MB name): names
    over PREFIX_MAX_LENGTH skip prefix sharing, and the chunk's results stay those of the per-name path."""
    import rnnexport.classify.log_probs as log_probs_module
    from rnnexport.runtimes.registry import open_runtime
    from rnnexport.text.encode import encode_ragged

    runtime = open_runtime("onnx", tiny_model_dir)
    limit = log_probs_module.PREFIX_MAX_LENGTH
    names = ["Smith", "Ab" * 50_000, "", "Kim", "x" * (limit + 1), "y" * limit, "Nowak"]
    encoded = encode_ragged(names, runtime.alphabet)
    scheduled = []
    build = log_probs_module.build_schedule

    def recording_build(chunk_names, *args):
        scheduled.append(int(chunk_names.lengths.max()))
        return build(chunk_names, *args)

    monkeypatch.setattr(log_probs_module, "build_schedule", recording_build)
    shared = log_probs_module.predict_chunk_log_probs(runtime, encoded, 512, prefix_sharing=True)
    assert scheduled == [limit]  # the two long names never reached the schedule
    per_name = log_probs_module.predict_chunk_log_probs(runtime, encoded, 512, prefix_sharing=False)
    np.testing.assert_array_equal(np.isnan(shared), np.isnan(per_name))
    ordinary = np.array([0, 3, 6])  # Smith, Kim, Nowak: the shared path, held to the rule like the per-name one
    padded = encoded.select(ordinary).padded()
    reference = reference_log_probs(tiny_model_dir, padded.indices, padded.lengths)
    assert_parity(reference, shared[ordinary], [names[i] for i in ordinary], "prefix-shared chunk")
    np.testing.assert_array_equal(shared[[1, 4]], per_name[[1, 4]])  # computed by the very same path


def test_a_wide_header_is_listed_in_short_and_an_empty_headerless_file_is_zero_rows(tiny_model_dir, tmp_path):
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(500)) + "\n" + "x," * 499 + "x\n")
    result = classify([str(tmp_path / "wide.csv"), "--model-dir", str(tiny_model_dir)])
    assert result.exit_code == 1
    assert "columns are: c0, c1," in result.stderr and "c19 and 480 more; use --column" in result.stderr
    (tmp_path / "empty.txt").write_bytes(b"")
    result = classify([str(tmp_path / "empty.txt"), "--no-header", "-o", str(tmp_path / "out.csv"), "--model-dir",
                       str(tiny_model_dir)])  # fmt: skip
    assert result.exit_code == 0 and "0 records in, 0 rows out" in result.stderr
    assert (tmp_path / "out.csv").read_bytes() == b""


@settings(max_examples=200, deadline=None)
@given(
    labels=st.lists(
        st.text(alphabet=st.sampled_from(list('ab,;|" é\t')), min_size=1, max_size=6),
        min_size=2,
        max_size=4,
        unique=True,
    ),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    k=st.integers(1, 2),
    data=st.data(),
)
def test_prediction_fields_read_back_as_the_labels_through_csv_reader(labels, delimiter, k, data):
    """Any label, whatever the output delimiter, reads back through csv.reader as itself (a ';' label in a
    ';' file once split a row into more fields than its header)."""
    from rnnexport.classify.csv_output import prediction_fields

    rows = data.draw(st.integers(1, 5))
    log_probs = np.log(np.random.default_rng(rows).dirichlet(np.ones(len(labels)), size=rows)).astype(np.float32)
    log_probs[0] = np.nan if rows > 1 else log_probs[0]  # a row without a prediction among them
    fields, lengths = prediction_fields(log_probs, labels, k, delimiter=delimiter)
    lines, offset = [], 0
    for length in lengths:
        lines.append("name" + bytes(fields[offset : offset + length]).decode("utf-8") + "\r\n")
        offset += length
    records = list(csv.reader(lines, delimiter=delimiter))
    assert [len(record) for record in records] == [1 + 2 * k] * rows
    for record, row in zip(records, log_probs, strict=True):
        expected = [] if np.isnan(row[0]) else [labels[i] for i in np.argsort(-row, kind="stable")[:k]]
        assert record[1::2] == (expected or [""] * k)


# --- hints where people go wrong (issue 23) ---


@pytest.mark.parametrize(
    ("first_line", "warned"),
    [("Smith", True), ("田中", True), ("O'Brien", True), ("NGUYEN", True), ("name", False), ("Surname", False),
     ("last_name", False), ("Apellido", False), ("email", False), ("12", False)],
)  # fmt: skip
def test_a_one_column_file_whose_header_looks_like_a_name_is_said_so(tiny_model_dir, tmp_path, first_line, warned):
    path = tmp_path / "plain.txt"
    path.write_text(f"{first_line}\nJones\nKim\n", encoding="utf-8")
    result = classify([str(path), "--model-dir", str(tiny_model_dir), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.stderr
    assert "2 records in, 2 rows out" in result.stderr  # never guessed: the first line is still the header
    warning = (f"Warning: {path}: its first line {first_line!r} is taken as the header, so it is not classified; it "
               "looks like a name, not a column's title: if the file has no header line, use --no-header")  # fmt: skip
    assert (warning in result.stderr) is warned
    result = classify([str(path), "--no-header", "--model-dir", str(tiny_model_dir), "-o", str(tmp_path / "out.csv")])
    assert "3 records in, 3 rows out" in result.stderr and "Warning" not in result.stderr


def test_a_header_with_a_name_column_or_two_columns_gets_no_hint(tiny_model_dir, tmp_path):
    for header in ("Smith,Jones", "id,name"):
        path = tmp_path / "two.csv"
        path.write_text(f"{header}\nKim,Lee\n")
        result = classify([str(path), "--column", "2", "--model-dir", str(tiny_model_dir), "-o", os.devnull])
        assert result.exit_code == 0 and "Warning" not in result.stderr


SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample.csv"
SAMPLE_GUESSED = (
    "12 names in scripts whose Latin spelling is a guess (Han 5, Hangul 3, Arabic 2, Devanagari 1, Hebrew 1: "
    "docs/fold.md)"
)


@pytest.mark.parametrize("how", ["csv", "parquet", "dask"])
def test_the_summary_counts_names_in_scripts_whose_spelling_is_a_guess(tiny_model_dir, tmp_path, how):
    # issue 23: 田中 reaches the model as "TianZhong", محمد as "mhmd"; the summary says how many names were such.
    path = SAMPLE
    if how == "parquet":
        path = tmp_path / "sample.parquet"
        pd.read_csv(SAMPLE, dtype=str).to_parquet(path)
    engine = ["--engine", "dask", "--scheduler", "sync"] if how == "dask" else []
    result = classify([str(path), *engine, "--model-dir", str(tiny_model_dir), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.stderr
    assert (
        f"369 records in, 369 rows out (0 skipped: no letter, 1 name lost characters in folding, {SAMPLE_GUESSED})"
        in (result.stderr)
    )


def test_predict_marks_names_whose_spelling_is_a_guess_and_counts_them(committed_model_dir):
    result = CliRunner().invoke(main, ["predict", "田中", "محمد", "Smith", "--model-dir", str(committed_model_dir)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("田中 -> TianZhong (Han script: a guessed spelling): ")
    assert lines[1].startswith("محمد -> mhmd (Arabic script: a guessed spelling): ")
    assert lines[2].startswith("Smith: ")
    assert result.stderr == (
        "2 of 3 names in scripts whose Latin spelling is a guess (Arabic 1, Han 1): the model saw that guess; "
        "see docs/fold.md\n"
    )
    result = CliRunner().invoke(main, ["predict", "Smith", "--model-dir", str(committed_model_dir)])
    assert result.exit_code == 0 and result.stderr == ""
