"""The byte-level CSV path of classify, checked against the csv module and per-name Python on awkward files."""

import codecs
import csv
import io
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnexport.classify.csv_output import prediction_fields, probability_digits
from rnnexport.classify.options import ClassifyOptions
from rnnexport.classify.pipeline import classify_local
from rnnexport.errors import InputError
from rnnexport.io.csv import records
from rnnexport.io.csv.dialect import wide_encoding
from rnnexport.runtimes.base import Runtime
from rnnexport.text.encode import encode_byte_fields, encode_names, encode_ragged

LABELS = ["Arabic", "Chinese", "Czech", "Dutch", "Vietnamese"]


class LetterRuntime(Runtime):
    """A stand-in model whose log-probs depend on every letter and its position (checks the plumbing)."""

    name = "letters"
    labels = LABELS

    def log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        steps = np.arange(1, indices.shape[0] + 1)[:, None]
        active = steps <= lengths[None, :]
        labels = np.arange(1, len(LABELS) + 1)[:, None, None]
        scores = (np.where(active, (indices + 1) * steps, 0)[None] * labels % 11).sum(axis=1).T / 7.0
        return (scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))).astype(np.float32)


def reference_rows(text: str, column: int, top_k: int) -> list[list[str]]:
    """What classify must write, computed one row at a time with the csv module and f-strings."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    header, records = rows[0], rows[1:]
    names = [record[column] if len(record) > column else "" for record in records]
    encoded = encode_names(names)
    log_probs = LetterRuntime().log_probs(encoded.indices, encoded.lengths)
    expected = [header + [f"{kind}{'' if r == 0 else f'_{r + 1}'}" for r in range(top_k)
                          for kind in ("language", "probability")]]  # fmt: skip
    for record, scores, length in zip(records, log_probs, encoded.lengths, strict=True):
        padded = record + [""] * (len(header) - len(record))
        ranked = sorted(range(len(LABELS)), key=lambda j: -scores[j])[:top_k]
        predictions = [value for j in ranked for value in (LABELS[j], f"{np.exp(np.float64(scores[j])):.6f}")]
        expected.append(padded + (predictions if length else [""] * 2 * top_k))
    return expected


def csv_rows(text: str) -> list[list[str]]:
    """The reference: what csv.reader reads (excel dialect, strict=False, no field size limit)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=False))
    finally:
        csv.field_size_limit(limit)


def predictions(name: str) -> list[str]:
    """LetterRuntime's language and probability for one name ('' twice when it has no letter)."""
    encoded = encode_names([name])
    if not encoded.lengths[0]:
        return ["", ""]
    scores = LetterRuntime().log_probs(encoded.indices, encoded.lengths)[0]
    best = int(np.argmax(scores))
    return [LABELS[best], f"{np.exp(np.float64(scores[best])):.6f}"]


TOKENS = st.sampled_from([b"a", b'"', b",", b";", b"\r", b"\n", b" ", "é".encode(), b"\x00", b"\x1a"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(TOKENS, max_size=40), chunk_rows=st.integers(1, 5), read_block=st.integers(1, 40))
def test_classify_reads_any_bytes_as_the_csv_module(tmp_path, monkeypatch, pieces, chunk_rows, read_block):
    """Arbitrary bytes, one name per record (--no-header): the record count, each name and every field of every
    record (blank lines included) come back as csv.reader reads them, and the output is the input's bytes plus
    the inserted prediction fields. Two refusals only: a quote never closed, and a start that reads as 16- or
    32-bit text without its mark (NUL bytes beside each letter: dialect.wide_encoding), named with --encoding."""
    data = b"".join(pieces)
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(data)
    monkeypatch.setattr(records, "READ_BLOCK", read_block)
    options = ClassifyOptions(chunk_rows=chunk_rows, header=False)
    if not data:
        return  # an empty file is refused before reading (test_classify)
    try:
        summary = classify_local(str(source), str(output), LetterRuntime(), options)
    except InputError as error:
        wide = wide_encoding(data[:64])
        if wide is not None:
            assert "text without a byte-order mark" in str(error) and f"--encoding {wide}" in str(error)
            return
        assert "never closed" in str(error)  # csv.reader would end the field silently: we refuse, naming the line
        return
    text = data.decode("utf-8").removesuffix("\x1a")
    expected = csv_rows(text)
    rows = [row for row in expected if row]
    assert (summary.records, summary.rows, summary.blank) == (len(rows), len(rows), len(expected) - len(rows))
    written = csv_rows(output.read_bytes().decode("utf-8"))
    assert written == [row + predictions(row[0]) if row else [] for row in expected]
    inserted = sum(len(",".join(["", *predictions(row[0])]).encode()) for row in rows)
    first_line_end = re.search("\r\n|\r|\n", text)
    added_line_end = len(first_line_end.group()) if first_line_end else 1  # the file's first line end, else LF
    missing_line_end = rows and not re.search("[\r\n]$", text)
    assert len(output.read_bytes()) == len(text.encode()) + inserted + (added_line_end if missing_line_end else 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=10), max_size=15))
def test_byte_fields_encode_like_strings(names):
    data = "".join(names).encode("utf-8", "surrogatepass")
    lengths = [len(name.encode("utf-8", "surrogatepass")) for name in names]
    stops = np.cumsum(lengths, dtype=np.int64)
    starts = stops - np.array(lengths, dtype=np.int64)

    encoded, special = encode_byte_fields(np.frombuffer(data, dtype=np.uint8), starts, stops)
    if len(special):
        encoded = encoded.replace_rows(special, encode_ragged([names[row] for row in special]))
    from_bytes = encoded.padded()
    from_strings = encode_ragged(names).padded()
    np.testing.assert_array_equal(from_bytes.lengths, from_strings.lengths)
    np.testing.assert_array_equal(from_bytes.indices, from_strings.indices)


def test_probability_digits_round_to_six_places():
    text = probability_digits(np.array([0.0, 1.0, 0.5, 0.9999996, 0.0000004, 0.1234566, np.nan])).view("S8").ravel()
    assert text.tolist() == [b"0.000000", b"1.000000", b"0.500000", b"1.000000", b"0.000000", b"0.123457",
                             b"0.000000"]  # fmt: skip


def test_prediction_fields_pad_short_records_and_leave_skipped_rows_empty():
    log_probs = np.log(np.array([[0.1, 0.2, 0.3, 0.15, 0.25], [np.nan] * 5], dtype=np.float32))
    fields, lengths = prediction_fields(log_probs, LABELS, 2, padding=np.array([0, 2]), delimiter=";")
    rows = np.split(fields, np.cumsum(lengths)[:-1])
    assert [row.tobytes() for row in rows] == [b";Czech;0.300000;Vietnamese;0.250000", b";;;;;;"]


def test_invalid_utf8_in_a_later_chunk_names_its_line(tmp_path):
    source = tmp_path / "late.csv"
    source.write_bytes(b"name\n" + b'"two\nlines"\n' + b"Smith\n" * 6 + b"M\xfcller\n")
    with pytest.raises(InputError, match="line 10 is not valid utf-8"):
        classify_local(str(source), str(tmp_path / "out.csv"), LetterRuntime(), ClassifyOptions(chunk_rows=2))
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16"])
def test_other_encodings_are_transcoded(tmp_path, encoding):
    text = "name,city\nMüller,Zürich\nSmith,Leeds\n"
    source = tmp_path / "other.csv"
    source.write_bytes(text.encode(encoding))
    output = tmp_path / "out.csv"
    classify_local(str(source), str(output), LetterRuntime(), ClassifyOptions(encoding=encoding))
    assert list(csv.reader(io.StringIO(output.read_text("utf-8-sig")))) == reference_rows(text, 0, 1)
    assert output.read_bytes().startswith(codecs.BOM_UTF8) == (encoding == "utf-16")  # Python's utf-16 writes one


def test_unknown_encoding_is_a_clear_error(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("name\nSmith\n")
    with pytest.raises(InputError, match="unknown --encoding 'klingon'"):
        classify_local(str(source), str(tmp_path / "out.csv"), LetterRuntime(), ClassifyOptions(encoding="klingon"))


def test_an_unclosed_quote_is_an_error_naming_its_line(tmp_path):
    source = tmp_path / "open.csv"
    source.write_bytes(b'name,note\nSmith,"never closed\nKim,x\n')
    with pytest.raises(InputError, match="line 2: a quoted field opens here and is never closed"):
        classify_local(str(source), str(tmp_path / "out.csv"), LetterRuntime(), ClassifyOptions())
    assert not (tmp_path / "out.csv").exists()


def test_crlf_records_keep_their_line_ends_and_the_last_gets_the_first_line_end(tmp_path):
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(b'name,note\r\n"a\r\nb",x\nKim,y')
    classify_local(str(source), str(output), LetterRuntime(), ClassifyOptions())
    lines = output.read_bytes().split(b"\r\n")
    assert lines[0] == b"name,note,language,probability"
    assert output.read_bytes().startswith(b'name,note,language,probability\r\n"a\r\nb",x,')
    assert b"\nKim,y," in output.read_bytes() and output.read_bytes().endswith(b"\r\n")


@pytest.mark.parametrize("header", [True, False])
def test_a_bom_is_read_as_a_mark_and_written_back_as_utf8s(tmp_path, header):
    """The BOM is not part of the first column's name; the output starts with UTF-8's (Excel needs it to read
    a UTF-8 file's letters), once, whatever the input's encoding; an input without one gets none."""
    cases = (
        (codecs.BOM_UTF8, "utf-8", None),
        (codecs.BOM_UTF16_LE, "utf-16-le", None),
        (b"", "utf-8", None),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    )  # --encoding utf-16: the codec reads the mark itself
    for mark, encoding, option in cases:
        source = tmp_path / "bom.csv"
        source.write_bytes(mark + ("name\nSmith\n" if header else "Smith\n").encode(encoding))
        output = tmp_path / "out.csv"
        classify_local(str(source), str(output), LetterRuntime(), ClassifyOptions(header=header, encoding=option))
        expected = (codecs.BOM_UTF8 if mark else b"") + (b"name,language,probability\n" if header else b"") + b"Smith,"
        assert output.read_bytes().startswith(expected), (mark, output.read_bytes())


@pytest.mark.parametrize("line_end", ["\r", "\r\n", "\n"])
def test_undecodable_byte_in_a_transcoded_file_names_its_line_whatever_the_line_ends(tmp_path, line_end):
    source = tmp_path / "utf16.csv"
    good = line_end.join(["name", "Smith", "Kim", ""]).encode("utf-16-le")
    source.write_bytes(codecs.BOM_UTF16_LE + good + b"\x00\xd8" + "x\n".encode("utf-16-le"))  # a lone surrogate
    with pytest.raises(InputError, match="line 4 is not valid utf-16-le"):
        classify_local(str(source), str(tmp_path / "out.csv"), LetterRuntime(), ClassifyOptions())
