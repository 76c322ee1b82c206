"""The record/field engine against Python's csv module (the exact reference), on arbitrary bytes."""

from __future__ import annotations

import codecs
import csv
import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.errors import InputError
from rnnexport.io.csv.dialect import Utf8Check, choose_encoding, detect_bom, detect_delimiter, sep_hint, text_encoding
from rnnexport.io.csv.exact import exact_record, record_fields
from rnnexport.io.csv.records import RecordReader

LINE_END = re.compile(r"\r\n|\r|\n")


def csv_rows(text: str, delimiter: str) -> list[list[str]]:
    """The reference: what csv.reader reads (no field size limit)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=False, delimiter=delimiter))
    finally:
        csv.field_size_limit(limit)


def ends_in_open_quote(text: str, delimiter: str) -> bool:
    """Whether csv.reader ends inside a quoted field: only then does one more LF change the last record."""
    rows, longer = csv_rows(text, delimiter), csv_rows(text + "\n", delimiter)
    return longer not in (rows, [*rows, []])


def read_all(data: bytes, delimiter: str = ",", chunk_rows: int = 1000, read_block: int = 1 << 16,
             chunk_bytes: int = 1 << 20) -> list:  # fmt: skip
    reader = RecordReader(io.BytesIO(data), "test.csv", delimiter, chunk_rows, chunk_bytes, read_block)
    return list(reader.chunks())


def records(data: bytes, delimiter: str = ",", position: int = 0, **sizes) -> list[tuple[bytes, list[bytes], int]]:
    """(record bytes, [field value], field count) of every record."""
    result = []
    for chunk in read_all(data, delimiter, **sizes):
        column = chunk.field(position)
        for row in range(len(chunk.starts)):
            result.append((chunk.record(row), column.value(row), int(column.counts[row])))
    return result


def names(data: bytes, delimiter: str = ",", position: int = 0, **sizes) -> list[bytes]:
    return [value for _, value, _ in records(data, delimiter, position, **sizes)]


# --- the property: any byte string, every delimiter, chunk and block sizes ------------------------------------------

TOKENS = ["a", '"', ",", ";", "\r", "\n", " ", "é", "\x00", "\x1a", '"a,b"', '""', '"a""b"', "\r\n"]


@settings(max_examples=600, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(TOKENS), max_size=40),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    extra=st.sampled_from(["", "\t", "|"]),
    chunk_rows=st.integers(1, 5),
    read_block=st.integers(1, 40),
    position=st.integers(0, 2),
)
def test_records_and_fields_equal_the_csv_module(pieces, delimiter, extra, chunk_rows, read_block, position):
    text = "".join(pieces).replace(";", extra or ";", 1)
    data = text.encode("utf-8")
    reference_text = text.removesuffix("\x1a")  # a final Ctrl-Z is dropped on purpose
    if ends_in_open_quote(reference_text, delimiter):
        with pytest.raises(InputError, match=r"test.csv: line \d+: a quoted field opens here and is never closed"):
            read_all(data, delimiter, chunk_rows=chunk_rows, read_block=read_block)
        return
    rows = csv_rows(reference_text, delimiter)
    chunks = read_all(data, delimiter, chunk_rows=chunk_rows, read_block=read_block, chunk_bytes=read_block)
    assert all(len(chunk.starts) <= chunk_rows for chunk in chunks)
    assert b"".join(chunk.data.tobytes() for chunk in chunks) == reference_text.encode("utf-8")  # byte for byte
    got = [(chunk, row) for chunk in chunks for row in range(len(chunk.starts))]
    assert len(got) == len(rows)
    offset = 0
    for (chunk, row), expected in zip(got, rows, strict=True):
        column = chunk.field(position)
        assert int(column.counts[row]) == len(expected)
        assert bool(chunk.blank[row]) == (expected == [])
        assert column.value(row).decode("utf-8") == (expected[position] if position < len(expected) else "")
        record = chunk.record(row)
        assert csv_rows(record.decode("utf-8"), delimiter) == [expected]  # the record alone reads the same
        assert chunk.lines[row] == 1 + len(LINE_END.findall(reference_text.encode()[:offset].decode()))
        offset += len(record)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.text(alphabet='aé ",;\r\n\x00', max_size=6), min_size=1, max_size=3), max_size=12),
       delimiter=st.sampled_from([",", ";", "\t", "|"]), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       read_block=st.integers(1, 40))  # fmt: skip
def test_files_written_by_csv_writer_read_back(rows, delimiter, quoting, read_block):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    expected = csv_rows(buffer.getvalue(), delimiter)
    got = records(data, delimiter, 0, chunk_rows=3, read_block=read_block)
    assert [value for _, value, _ in got] == [row[0].encode() if row else b"" for row in expected]
    assert [count for _, _, count in got] == [len(row) for row in expected]


def test_well_formed_quoted_files_stay_on_the_fast_path():
    data = b'"id","name"\r\n"1","O""Brien, Pat"\r\n"2",""\r\n3,"a\nb"\r\n'
    chunk = read_all(data)[0]
    assert not chunk.exact.any()
    assert [chunk.field(1).value(row) for row in range(4)] == [b"name", b'O"Brien, Pat', b"", b"a\nb"]


# --- each rule, with csv.reader's answer beside ours -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'"ab"cd,x\n', [b"abcd"]),  # after the closing quote, bytes are appended as they are
        (b'"ab" "x",y\n', [b'ab "x"']),  # ... a quote there is literal
        (b'"ab"x"y\nz\n', [b'abx"y', b"z"]),  # ... and a line end after it ends the record
        (b"5'11\" tall,Kowalski\n4,Nowak\n", [b"5'11\" tall", b"4"]),
        (b'a"b\nc\n', [b'a"b', b"c"]),  # a quote mid-field is literal: no merged rows
        (b'"a\rb"\r\nc', [b"a\rb", b"c"]),  # CR inside quotes is data
        (b"a\rb\r\nc\r", [b"a", b"b", b"c"]),  # bare CR ends a record, a final CR too
        (b"a\x00b,c\n", [b"a\x00b"]),  # NUL is an ordinary byte (Python >= 3.11)
        (b'""""\n', [b'"']),
        (b'"a""b"\n', [b'a"b']),
    ],
)
def test_rules_match_the_csv_module(data, expected):
    assert names(data) == expected
    assert [row[0] if row else "" for row in csv_rows(data.decode(), ",")] == [value.decode() for value in expected]


def test_stray_quote_does_not_merge_later_rows():
    lines = [f"{row},name{row},x" for row in range(1000)]
    lines[10] = "10,5'11\" tall,x"
    data = ("id,name,city\n" + "\n".join(lines) + "\n").encode()
    got = records(data, position=1, chunk_rows=100, read_block=4096)
    assert len(got) == 1001
    assert got[11][1] == b"5'11\" tall"
    assert got[500][1] == b"name499"


def test_blank_lines_are_flagged_and_kept_byte_for_byte():
    data = b"name\r\n\r\nAnna\n\n\rBob\r\n"
    chunks = read_all(data)
    assert chunks[0].blank.tolist() == [False, True, False, True, True, False]
    assert chunks[0].data.tobytes() == data
    assert chunks[0].field(0).counts.tolist() == [1, 0, 1, 0, 0, 1]


def test_final_ctrl_z_is_dropped_but_not_one_inside_the_data():
    assert names(b"a\r\nb\r\n\x1a") == [b"a", b"b"]
    assert names(b"a\x1a\nb") == [b"a\x1a", b"b"]


def test_unclosed_quote_names_the_line_where_it_opened():
    data = b'name\r\nAnna\r\n"Bob\r\nCarl\rDora\n'
    with pytest.raises(InputError, match=r"^test.csv: line 3: a quoted field opens here and is never closed"):
        read_all(data, read_block=4)
    with pytest.raises(InputError, match="line 2: a quoted field"):
        read_all(b'a\n"b""\n')


def test_field_over_the_csv_module_limit():
    name = "x" * 200_000
    data = f'id,name\n1,"{name}"\n2,{name}\n'.encode()
    assert names(data, position=1) == [b"name", name.encode(), name.encode()]


def test_record_spanning_many_blocks_is_read_whole():
    data = b'a,"' + b"b\n" * 5000 + b'"\nc,d\n'
    assert names(data, position=1, read_block=7) == [b"b\n" * 5000, b"d"]


def test_chunks_are_bounded_by_bytes_as_well_as_rows():
    data = b"".join(b"%d,%s\n" % (row, b"n" * 1000) for row in range(100))
    chunks = read_all(data, chunk_rows=1000, chunk_bytes=10_000, read_block=3000)
    assert sum(len(chunk.starts) for chunk in chunks) == 100
    assert max(len(chunk.data) for chunk in chunks) <= 10_000
    assert b"".join(chunk.data.tobytes() for chunk in chunks) == data
    assert [chunk.first_record for chunk in chunks] == list(np.cumsum([0] + [len(c.starts) for c in chunks[:-1]]))


def test_a_record_larger_than_the_byte_bound_is_one_chunk():
    data = b"a\n" + b"b" * 500 + b"\nc\n"
    assert [len(chunk.starts) for chunk in read_all(data, chunk_bytes=100, read_block=64)] == [1, 1, 1]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(delimiter):
    data = f'id{delimiter}name\r\n4{delimiter}"O\'Brien{delimiter}x"{delimiter}Cork\r\n'.encode()
    assert names(data, delimiter, 1) == [b"name", f"O'Brien{delimiter}x".encode()]
    assert records(data, delimiter)[1][2] == 3


def test_unsupported_delimiter_is_an_input_error():
    with pytest.raises(InputError, match="delimiter ':' is not supported"):
        RecordReader(io.BytesIO(b""), "t", ":")


def test_exact_record_reports_an_unfinished_record():
    assert exact_record(b'"ab"', 0, ord(","), final=False) is None  # a quote may follow
    assert exact_record(b"ab\r", 0, ord(","), final=False) is None  # an LF may follow
    assert exact_record(b"ab\r", 0, ord(","), final=True).end == 3
    assert record_fields(b'id," Name ",name\r\n') == [b"id", b" Name ", b"name"]


# --- dialect and encoding -----------------------------------------------------------------------------------------


def test_bom_detection():
    assert detect_bom(codecs.BOM_UTF8 + b"name") == ("utf-8", 3)
    assert detect_bom(codecs.BOM_UTF16_LE + b"n\x00") == ("utf-16-le", 2)
    assert detect_bom(codecs.BOM_UTF16_BE + b"\x00n") == ("utf-16-be", 2)
    assert detect_bom(b"name") == (None, 0)


def test_encoding_choice_bom_then_option():
    utf16 = "name\r\nŁukasz\r\n".encode("utf-16")  # with its BOM
    encoding, skip = choose_encoding(utf16[:4], None)
    assert utf16[skip:].decode(encoding) == "name\r\nŁukasz\r\n"
    assert choose_encoding(codecs.BOM_UTF8 + b"x", "UTF8") == ("utf-8", 3)
    assert choose_encoding(codecs.BOM_UTF8 + b"x", "utf-8-sig") == ("utf-8-sig", 0)  # the codec reads its mark
    with pytest.raises(InputError, match=r"^f.csv starts with the byte-order mark of utf-8, which --encoding latin-1"):
        choose_encoding(codecs.BOM_UTF8 + b"x", "latin-1", "f.csv")  # it would read the mark as 'ï»¿'

    assert choose_encoding(b"name", None) == ("utf-8", 0)


@pytest.mark.parametrize("name", ["hex", "rot13", "base64"])
def test_non_text_encodings_are_refused(name):
    with pytest.raises(InputError, match="is not a text encoding"):
        text_encoding(name)


def test_unknown_encoding_is_refused():
    with pytest.raises(InputError, match="unknown --encoding 'klingon'"):
        text_encoding("klingon")


@pytest.mark.parametrize(
    ("line", "expected"),
    [(b"sep=;\r\n", ";"), (b"sep=,\n", ","), (b"SEP=|", "|"), (b"sep=\t\n", "\t"), (b"id;name\n", None),
     (b"sep=;;\n", None)],
)  # fmt: skip
def test_sep_hint(line, expected):
    assert sep_hint(line) == expected


def test_sep_hint_with_an_unsupported_delimiter():
    with pytest.raises(InputError, match="not supported"):
        sep_hint(b"sep=:\n")


@pytest.mark.parametrize(
    ("header", "expected"),
    [(b"id,name,city", ","), (b"id;name;city", ";"), (b"id\tname", "\t"), (b"id|name", "|"), (b"name", ","),
     (b'"last, first";id', ";"), (b"a;b|c;d", ";")],
)  # fmt: skip
def test_delimiter_detection(header, expected):
    assert detect_delimiter(header) == expected


def test_delimiter_detection_tie_asks_for_the_option():
    with pytest.raises(InputError, match=r"semicolon and pipe.*--delimiter"):
        detect_delimiter(b"a;b|c")


def test_invalid_utf8_names_its_line_and_asks_for_the_encoding():
    """It named latin-1, which reads any byte: followed on a file in another encoding, wrong letters, exit 0."""
    with pytest.raises(InputError, match=r"^f.csv: line 3 is not valid utf-8; pass --encoding with the encoding the "
                       "file was saved in$"):  # fmt: skip
        Utf8Check("f.csv").check(b"name\r\nAnna\rM\xfcller\n", 1)


def test_invalid_utf8_after_utf8_lines_says_the_file_mixes_encodings():
    check = Utf8Check("f.csv")
    check.check("name\nZoë\n".encode(), 1)
    with pytest.raises(InputError, match=r"^f.csv: line 5 is not valid UTF-8 but earlier lines .* mixes encodings"):
        check.check(b"Anna\nM\xfcller\n", 4)
    with pytest.raises(InputError, match=r"line 3 .* mixes encodings"):
        Utf8Check("f.csv").check("name\nZoë\nM\xfcller\n".encode().replace(b"\xc3\xbc", b"\xfc"), 1)
