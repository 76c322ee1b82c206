"""Encodings: the output is valid UTF-8 that reads the input's letters, or the run fails with one line, and no
advice it gives leads to wrong output. Every byte-order mark Python knows, every codec, truncated input."""

from __future__ import annotations

import codecs
import encodings
import encodings.aliases
import io
import pkgutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.errors import InputError
from rnnexport.io.csv.reader import read_csv_input
from tests.test_output_files import RNNEXPORT, one_error_line

TEXT = "name,id\nSmith,1\nDvořák,2\nŁukasz,3\nIvanov,4\n"
# Every mark of codecs.BOM_*, written by the codec that puts it there.
MARKED = {"utf-8-sig": "utf-8-sig", "utf-16": "utf-16", "utf-16-be": "utf-16-be", "utf-32": "utf-32",
          "utf-32-be": "utf-32-be"}  # fmt: skip
MARKS = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-32-be": codecs.BOM_UTF32_BE}


def marked_bytes(codec: str, text: str = TEXT) -> bytes:
    return MARKS.get(codec, b"") + text.encode(codec)


def run(args: list[str], cwd: Path, model_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([RNNEXPORT, "classify", *args, "--model-dir", str(model_dir), "--quiet"], cwd=cwd,
                          capture_output=True, timeout=120)  # fmt: skip


@pytest.fixture
def utf8_output(tiny_model_dir, tmp_path) -> bytes:
    """The output of TEXT as plain UTF-8, which every encoding of it must give (after UTF-8's mark)."""
    (tmp_path / "plain.csv").write_text(TEXT, encoding="utf-8")
    result = run(["plain.csv"], tmp_path, tiny_model_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("codec", MARKED)
def test_every_byte_order_mark_reads_the_same_letters(tiny_model_dir, tmp_path, utf8_output, codec):
    """A UTF-32 file (BOM FF FE 00 00) was read as UTF-16-LE: exit 0, a NUL after every letter, a phantom record."""
    (tmp_path / "marked.csv").write_bytes(marked_bytes(codec))
    result = run(["marked.csv"], tmp_path, tiny_model_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == codecs.BOM_UTF8 + utf8_output  # the input had a mark: the output has UTF-8's


def test_a_utf16_file_one_byte_short_is_one_line_and_latin1_is_refused(tiny_model_dir, tmp_path):
    """It got the advice "pass --encoding latin-1", and following it exited 0 with garbage."""
    (tmp_path / "short.csv").write_bytes(TEXT.encode("utf-16")[:-1])
    result = run(["short.csv", "-o", "out.csv"], tmp_path, tiny_model_dir)
    assert result.returncode == 1
    line = one_error_line(result.stderr.decode())
    assert "line 5 ends the file in the middle of a utf-16-le character: the file was cut short" in line
    assert "latin-1" not in line and not (tmp_path / "out.csv").exists()
    for encoding in ("latin-1", "cp1252", "utf-8", "utf-16-be", "utf-32"):
        result = run(["short.csv", "-o", "out.csv", "--encoding", encoding], tmp_path, tiny_model_dir)
        assert result.returncode == 1, encoding
        assert "starts with the byte-order mark of utf-16-le" in one_error_line(result.stderr.decode())
        assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_text_without_a_mark_is_refused_with_advice_that_reads_it_right(tiny_model_dir, tmp_path, utf8_output,
                                                                              codec):  # fmt: skip
    """UTF-16 or UTF-32 without a mark read as UTF-8 (or as latin-1): a NUL beside every letter, exit 0."""
    (tmp_path / "wide.csv").write_bytes(TEXT.encode(codec))
    for option, read_as in (([], "utf-8"), (["--encoding", "latin-1"], "iso8859-1")):
        result = run(["wide.csv", *option], tmp_path, tiny_model_dir)
        assert result.returncode == 1
        line = one_error_line(result.stderr.decode())
        assert line.endswith(f"without a byte-order mark (a NUL byte beside each letter of its first line), which "
                             f"{read_as} reads as other letters: pass --encoding {codec}")  # fmt: skip
    advised = run(["wide.csv", "--encoding", codec], tmp_path, tiny_model_dir)
    assert advised.returncode == 0 and advised.stdout == utf8_output


SURROGATES = [("utf-7", b"name\nSmith\n+2AA-x\n"), ("unicode_escape", b"name\n\\ud800x\n"),
              ("raw_unicode_escape", b"name\nAb\\ud83dc\n")]  # fmt: skip


@pytest.mark.parametrize(("codec", "data"), SURROGATES)
@pytest.mark.parametrize("output", ["out.csv", "out.parquet"])
def test_a_codec_that_makes_a_lone_surrogate_is_one_line(tiny_model_dir, tmp_path, codec, data, output):
    """--encoding utf-7 or unicode_escape wrote invalid UTF-8 with exit 0 (Parquet: an internal error)."""
    (tmp_path / "in.csv").write_bytes(data)
    result = run(["in.csv", "--encoding", codec, "-o", output], tmp_path, tiny_model_dir)
    assert result.returncode == 1
    line = one_error_line(result.stderr.decode())
    assert "to a lone surrogate U+D8" in line and "which no UTF-8 text can hold" in line
    assert "internal error" not in line and not (tmp_path / output).exists()


def test_a_codec_that_cannot_stream_is_refused(tiny_model_dir, tmp_path):
    (tmp_path / "in.csv").write_bytes("name\nSmith\n".encode("punycode"))
    result = run(["in.csv", "--encoding", "punycode"], tmp_path, tiny_model_dir)
    assert result.returncode == 2 and b"cannot decode a file piece by piece" in result.stderr


def text_codecs() -> list[str]:
    """Every text codec of this Python (its encodings package and their aliases)."""
    found = set()
    for name in {module.name for module in pkgutil.iter_modules(encodings.__path__)} | set(
        encodings.aliases.aliases.values()
    ):
        try:
            info = codecs.lookup(name)
        except LookupError:
            continue
        if info._is_text_encoding:
            found.add(info.name)
    return sorted(found)


def read_all(data: bytes, encoding: str | None, has_header: bool = True) -> list[bytes]:
    """The header and the records' bytes as classify reads them, UTF-8 input checked chunk by chunk as its
    stages check it."""
    csv_input = read_csv_input(io.BytesIO(data), "f.csv", encoding=encoding, has_header=has_header, chunk_rows=3)
    pieces = [csv_input.header[0] if csv_input.header else b""]
    for chunk in csv_input.chunks():
        pieces.append(chunk.data.tobytes())
        if csv_input.utf8_check is not None:
            csv_input.utf8_check.check(pieces[-1], int(chunk.first_line))
    return pieces


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # unicode_escape warns of invalid escapes
@settings(max_examples=400, deadline=None)
@given(codec=st.sampled_from(text_codecs()), data=st.binary(max_size=80))
def test_any_codec_on_any_bytes_gives_utf8_or_one_error(codec, data):
    """Whatever --encoding says and whatever the bytes, the records handed on are valid UTF-8, or the input is
    refused with an InputError (one line), never another exception."""
    try:
        pieces = read_all(data, codec, has_header=False)
    except InputError as error:
        assert "\n" not in str(error)
        return
    for piece in pieces:
        piece.decode("utf-8")  # strict: no surrogate, no stray byte


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_characters='\x00\r"'), min_size=1, max_size=30),
       codec=st.sampled_from(sorted(MARKED)), cut=st.integers(1, 3))  # fmt: skip
def test_marked_input_cut_short_is_refused_never_misread(text, codec, cut):
    """Input in any marked encoding that ends in the middle of a character is an error naming that; the records
    before it are never read as other letters."""
    data = marked_bytes(codec, "name\n" + text)
    short = data[:-cut]
    try:
        pieces = read_all(short, None)
    except InputError as error:
        assert "ends the file in the middle of a" in str(error), str(error)
        return
    read = b"\n".join(piece for piece in pieces if piece).decode("utf-8")
    assert ("name\n" + text).replace("\n", "").startswith(read.replace("\n", "")), (read, text)


def test_parquet_output_of_a_marked_utf32_file(tiny_model_dir, tmp_path):
    (tmp_path / "marked.csv").write_bytes(TEXT.encode("utf-32"))
    result = run(["marked.csv", "-o", "out.parquet"], tmp_path, tiny_model_dir)
    assert result.returncode == 0, result.stderr
    assert pq.read_table(tmp_path / "out.parquet").column("name").to_pylist() == [
        "Smith", "Dvořák", "Łukasz", "Ivanov"
    ]  # fmt: skip
