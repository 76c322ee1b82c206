"""The byte-level CSV path of classify, checked against the csv module and per-name Python on awkward files."""

import codecs
import csv
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnexport.classify import ClassifyOptions, classify_csv
from rnnexport.csvio import reader as csv_reader
from rnnexport.csvio.reader import RecordReader, field_spans, record_ends
from rnnexport.csvio.writer import prediction_fields, probability_digits
from rnnexport.errors import InputError
from rnnexport.runtimes import Runtime
from rnnexport.text import encode_byte_fields, encode_names, encode_ragged

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


FIELD = st.text(st.sampled_from(list("abXY z.'-,\"\n\r;1éüœ李😀 ")), max_size=6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 999), FIELD, FIELD), max_size=12),
    line_end=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    final_newline=st.booleans(),
    chunk_rows=st.integers(1, 5),
    read_block=st.integers(1, 40),
    top_k=st.integers(1, 3),
)
def test_stream_matches_the_csv_module(tmp_path, monkeypatch, rows, line_end, bom, final_newline, chunk_rows,
                                       read_block, top_k):  # fmt: skip
    records = [_raw_record(row) for row in [("id", "name", "note"), *rows]]
    text = ("\ufeff" if bom else "") + "".join(record + line_end for record in records)
    if not final_newline:
        text = text.removesuffix(line_end)
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(csv_reader, "READ_BLOCK", read_block)
    summary = classify_csv(
        str(source), str(output), LetterRuntime(), ClassifyOptions(top_k=top_k, chunk_rows=chunk_rows)
    )
    expected = reference_rows(text, 1, top_k)
    assert summary.rows == len(rows)
    # Each input record comes back byte for byte (CRLF record ends become LF), then its prediction fields.
    appended = [",".join(row[3:]) for row in expected]
    assert output.read_bytes().decode("utf-8") == "".join(f"{r},{a}\n" for r, a in zip(records, appended, strict=True))


def _raw_record(row) -> str:
    """One record as csv.writer writes it (fields with commas, quotes, CR or LF quoted), without its line end."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue().removesuffix("\r\n")


def test_record_ends_skip_newlines_inside_quotes():
    assert record_ends(b'a,"x\ny"\nb,"""q""\n"\nc\n').tolist() == [7, 18, 20]


def test_field_spans_use_commas_outside_quotes_and_pad_short_records():
    reader = RecordReader(io.BytesIO(b'h1,h2,h3\n1,"a,b",x\n2\n3,,\n'), "test", 10)
    reader.header()
    chunk = next(reader.chunks())
    starts, stops, counts = field_spans(chunk, 1)
    fields = [chunk.data[s:e].tobytes() for s, e in zip(starts, stops, strict=True)]
    assert fields == [b'"a,b"', b"", b""] and counts.tolist() == [3, 1, 3]


def test_crlf_becomes_lf_only_at_record_ends():
    reader = RecordReader(io.BytesIO(b'n\r\n"a\r\nb"\r\nc\r\n'), "test", 10)
    assert reader.header() == "n"
    chunk = next(reader.chunks())
    assert chunk.data.tobytes() == b'"a\r\nb"\nc\n' and chunk.ends.tolist() == [6, 8]


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
    fields, lengths = prediction_fields(log_probs, LABELS, 2, padding=np.array([0, 2]))
    rows = np.split(fields, np.cumsum(lengths)[:-1])
    assert [row.tobytes() for row in rows] == [b",Czech,0.300000,Vietnamese,0.250000\n", b",,,,,,\n"]


def test_invalid_utf8_in_a_later_chunk_names_its_line(tmp_path):
    source = tmp_path / "late.csv"
    source.write_bytes(b"name\n" + b'"two\nlines"\n' + b"Smith\n" * 6 + b"M\xfcller\n")
    with pytest.raises(InputError, match="line 10 is not valid utf-8"):
        classify_csv(str(source), str(tmp_path / "out.csv"), LetterRuntime(), ClassifyOptions(chunk_rows=2))
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16"])
def test_other_encodings_are_transcoded(tmp_path, encoding):
    text = "name,city\nMüller,Zürich\nSmith,Leeds\n"
    source = tmp_path / "other.csv"
    source.write_bytes(text.encode(encoding))
    output = tmp_path / "out.csv"
    classify_csv(str(source), str(output), LetterRuntime(), ClassifyOptions(encoding=encoding))
    assert list(csv.reader(io.StringIO(output.read_text("utf-8")))) == reference_rows(text, 0, 1)


def test_unknown_encoding_is_a_clear_error(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("name\nSmith\n")
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        classify_csv(str(source), str(tmp_path / "out.csv"), LetterRuntime(), ClassifyOptions(encoding="klingon"))


def test_an_unclosed_quote_runs_to_the_end_of_the_file(tmp_path):
    source = tmp_path / "open.csv"
    source.write_bytes(b'name,note\nSmith,"never closed\nKim,x\n')
    output = tmp_path / "out.csv"
    summary = classify_csv(str(source), str(output), LetterRuntime(), ClassifyOptions())
    assert summary.rows == 1
    assert output.read_bytes().startswith(b'name,note,language,probability\nSmith,"never closed\nKim,x,')


def test_a_utf8_bom_is_dropped_only_at_the_start(tmp_path):
    source = tmp_path / "bom.csv"
    source.write_bytes(codecs.BOM_UTF8 + b"name\nSmith\n")
    output = tmp_path / "out.csv"
    classify_csv(str(source), str(output), LetterRuntime(), ClassifyOptions())
    assert output.read_bytes().startswith(b"name,language,probability\nSmith,")
