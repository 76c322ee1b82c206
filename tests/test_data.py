import csv
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.data.fetch import fetch_names, validate_names_dir
from rnnexport.data.labelled import Pair, read_labelled, read_pairs
from rnnexport.data.split import is_held_out, split_pairs
from rnnexport.errors import DataError, RnnExportError


def test_real_split_counts(real_names_dir):
    pairs = read_pairs(real_names_dir)
    split = split_pairs(pairs)
    assert (len(pairs), len(split.held_out), len(split.train)) == (17_988, 1_793, 16_195)


def test_held_out_rule_is_crc32_mod_10():
    assert is_held_out(Pair("Kim", "Japanese"))  # crc32(b"Japanese\tKim") % 10 == 0
    assert not is_held_out(Pair("Abandonato", "Italian"))  # ... % 10 == 9
    import zlib

    pair = Pair("Dvorak", "Czech")
    assert is_held_out(pair) == (zlib.crc32(b"Czech\tDvorak") % 10 == 0)


def test_read_pairs_folds_and_deduplicates(tiny_names_dir):
    (tiny_names_dir / "French.txt").write_text("Émile\nEmile\n\n😀\n", encoding="utf-8")
    pairs = [p for p in read_pairs(tiny_names_dir) if p.label == "French"]
    assert [p.name for p in pairs] == ["Emile"]


def test_data_command_copies_and_validates(tiny_names_dir, tmp_path):
    result = CliRunner().invoke(main, ["data", "--from", str(tiny_names_dir), "--dest", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.txt"))) == 18


def test_data_from_environment(tiny_names_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNEXPORT_NAMES_DIR", str(tiny_names_dir))
    assert fetch_names(tmp_path / "out") == tmp_path / "out"


@pytest.mark.parametrize("damage", ["missing", "empty-file", "not-utf8", "no-folder"])
def test_bad_data_folders_fail_clearly(tiny_names_dir, tmp_path, damage):
    if damage == "missing":
        (tiny_names_dir / "Korean.txt").unlink()
        expected = "missing 1 of 18 files: Korean.txt"
    elif damage == "empty-file":
        (tiny_names_dir / "Korean.txt").write_text("")
        expected = "Korean.txt is empty"
    elif damage == "not-utf8":
        (tiny_names_dir / "Korean.txt").write_bytes(b"Kim\nPak\xff\n")
        expected = "is not UTF-8 (line 2)"
    else:
        tiny_names_dir = tmp_path / "nowhere"
        expected = "does not exist"
    result = CliRunner().invoke(main, ["data", "--from", str(tiny_names_dir), "--dest", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert expected in result.output
    assert result.output.startswith("Error: ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_source_folder_that_is_not_there_is_named_as_given_not_sent_back_to_the_command(tmp_path, monkeypatch,
                                                                                          given):  # fmt: skip
    # issue 23: `rnnexport data --from /nonexistent` answered "run `rnnexport data --from DIR` first".
    absent = tmp_path / "nonexistent"
    monkeypatch.delenv("RNNEXPORT_NAMES_DIR", raising=False)
    args = ["data", "--dest", str(tmp_path / "out")]
    if given == "option":
        args += ["--from", str(absent)]
    else:
        monkeypatch.setenv("RNNEXPORT_NAMES_DIR", str(absent))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    what = "--from" if given == "option" else "$RNNEXPORT_NAMES_DIR"
    assert result.output.startswith(f"Error: {what} {absent} does not exist; give the folder that holds Arabic.txt")
    assert "rnnexport data" not in result.output


def test_download_failure_says_to_use_from(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNEXPORT_NAMES_DIR", raising=False)
    with pytest.raises(DataError, match="pass --from DIR"):
        fetch_names(tmp_path / "out", url="http://127.0.0.1:9/data.zip")
    assert not (tmp_path / "out").exists()


def test_a_valid_copy_in_place_is_kept_offline_unless_refreshed(tiny_names_dir, monkeypatch):
    monkeypatch.delenv("RNNEXPORT_NAMES_DIR", raising=False)
    offline = "http://127.0.0.1:9/data.zip"
    result = CliRunner().invoke(main, ["data", "--dest", str(tiny_names_dir)])
    assert result.exit_code == 0, result.output
    assert fetch_names(tiny_names_dir, url=offline) == tiny_names_dir
    with pytest.raises(DataError, match="pass --from DIR"):
        fetch_names(tiny_names_dir, url=offline, refresh=True)
    assert len(list(tiny_names_dir.glob("*.txt"))) == 18  # a failed refresh leaves the copy alone


def test_validate_returns_labels_in_sorted_order(tiny_names_dir):
    labels = validate_names_dir(Path(tiny_names_dir))
    assert labels == sorted(labels) and len(labels) == 18


def test_a_folder_of_any_labels_is_training_data(tmp_path):
    (tmp_path / "person.txt").write_text("Ada Lovelace\nŁukasz\n\n😀\n", encoding="utf-8")
    (tmp_path / "company.txt").write_text("Acme Ltd\nAcme Ltd\n", encoding="utf-8")
    data = read_labelled(tmp_path, alphabet="abcdefghijklmnopqrstuvwxyz ")
    assert data.labels == ["company", "person"]
    assert data.pairs == [Pair("acme ltd", "company"), Pair("ada lovelace", "person"), Pair("lukasz", "person")]


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".tsv", "\t")])
def test_a_csv_or_tsv_gives_labels_from_its_label_column(tmp_path, suffix, delimiter):
    path = tmp_path / f"people{suffix}"
    rows = [["id", "Surname", "origin"], ["1", "Weiß", "de"], ["2", "O’Brien", "ie"], ["3", "Müller", "de"], []]
    path.write_text("\ufeff" + "\n".join(delimiter.join(row) for row in rows), encoding="utf-8")
    data = read_labelled(path, name_column="surname", label_column="origin")
    assert data.labels == ["de", "ie"]
    assert [(p.name, p.label) for p in data.pairs] == [("Weiss", "de"), ("O'Brien", "ie"), ("Muller", "de")]


@pytest.mark.parametrize(
    ("content", "columns", "expected"),
    [
        ("name,label\nSmith,a\nJones,a\n", {}, "has 1 label(s); training needs at least 2"),
        ("name,label\nSmith,a\nJones,\n", {}, "line 3: no label"),
        ("name,kind\nSmith,a\n", {}, "no column called 'label'; columns are: name, kind; use --label-column"),
        ("surname,label\nSmith,a\n", {"name_column": "nom"}, "column 'nom' not found"),
        ("name,label\nSmith,a\nJones,b,c\n", {}, "line 3 has 3 fields, the header has 2"),
        (b"name,label\nSmith,a\nM\xfcller,b\n", {}, "line 3"),
        ("name,label\nSmith,a\n", {"name_column": "label"}, "the names and the labels are both column 'label'"),
        ('name,label\nSmith,"a\tb"\nJones,c\n', {}, "label 'a\\tb' of"),
        ("", {}, "is empty"),
    ],
)
def test_bad_labelled_files_fail_clearly(tmp_path, content, columns, expected):
    path = tmp_path / "d.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RnnExportError, match=re.escape(expected)):
        read_labelled(tmp_path / "d.csv", **columns)


def test_bad_labelled_paths_fail_clearly(tmp_path):
    (tmp_path / "names.json").write_text("{}")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "only.txt").write_text("Smith\n")
    (tmp_path / "empty").mkdir()
    for path, expected in [
        (tmp_path / "absent.csv", "does not exist"),
        (tmp_path / "names.json", "no column called 'label'; columns are: {}"),
        (tmp_path / "one", "has 1 label(s)"),
        (tmp_path / "empty", "holds no <label>.txt file"),
    ]:
        with pytest.raises(RnnExportError, match=re.escape(expected)):
            read_labelled(path)


PEOPLE = [("Weiß", "de"), ("O’Brien", "ie"), ("Müller", "de"), ('Smith; "Jr", Esq|', "ie")]
PEOPLE_PAIRS = [("Weiss", "de"), ("O'Brien", "ie"), ("Muller", "de"), ("Smith; Jr, Esq", "ie")]


def _people_csv(delimiter: str = ",", line_end: str = "\n") -> str:
    """PEOPLE under a 'Name,Label' header, quoted by Python's csv module where a field needs it."""
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator=line_end).writerows([("Name", "Label"), *PEOPLE])
    return text.getvalue()


@pytest.mark.parametrize(
    ("suffix", "encoded"),
    [
        (".csv", lambda: _people_csv().encode("utf-16")),  # UTF-16 with its byte-order mark
        (".csv", lambda: _people_csv(";").encode()),  # ';' detected from the header
        (".csv", lambda: ("sep=|\n" + _people_csv("|")).encode()),  # Excel's sep= line
        (".csv", lambda: _people_csv(",", "\r").encode()),  # bare CR line ends
        (".txt", lambda: _people_csv(",", "\r\n").replace("\r\nM", "\r\n\r\n\r\nM").encode("utf-8-sig")),
    ],
    ids=["utf-16", "semicolon", "sep-line", "bare-cr", "txt-bom-crlf-blank-lines"],
)
def test_labelled_tables_are_read_as_classify_reads_files(tmp_path, suffix, encoded):
    path = tmp_path / f"people{suffix}"
    path.write_bytes(encoded())
    data = read_labelled(path)
    assert data.labels == ["de", "ie"]
    assert [(p.name, p.label) for p in data.pairs] == PEOPLE_PAIRS


def test_labelled_parquet_takes_text_and_dictionary_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": [1, 2, 3, 4], "name": [n for n, _ in PEOPLE],
                      "label": pa.array([label for _, label in PEOPLE]).dictionary_encode()})  # fmt: skip
    pq.write_table(table, tmp_path / "people.parquet", row_group_size=3)
    data = read_labelled(tmp_path / "people.parquet")
    assert data.labels == ["de", "ie"] and [(p.name, p.label) for p in data.pairs] == PEOPLE_PAIRS
    pq.write_table(pa.table({"name": [[1], [2]], "label": ["a", "b"]}), tmp_path / "nested.parquet")
    with pytest.raises(RnnExportError, match=r"column 'name' holds list<element: int64>, not text"):
        read_labelled(tmp_path / "nested.parquet")
    pq.write_table(pa.table({"name": ["Smith", "Kim"], "label": ["a", None]}), tmp_path / "nolabel.parquet")
    with pytest.raises(DataError, match=r"nolabel.parquet, row 2: no label"):
        read_labelled(tmp_path / "nolabel.parquet")


def test_label_folders_take_txt_files_in_any_case_and_skip_hidden_files_and_folders(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "Greek names.txt").write_text("Papadopoulos\n  \n", encoding="utf-8")  # a blank line
    (folder / "Russian.TXT").write_text("Ivanov\n😀 😀\n- -\n", encoding="utf-8")  # names that fold to spaces
    (folder / ".hidden.txt").write_text("Smith\n", encoding="utf-8")
    (folder / ".txt").write_text("Smith\n", encoding="utf-8")
    (folder / "Old.txt").mkdir()
    (folder / "README.md").write_text("notes\n", encoding="utf-8")
    data = read_labelled(folder)
    assert data.labels == ["Greek names", "Russian"]
    assert [(p.name, p.label) for p in data.pairs] == [("Papadopoulos", "Greek names"), ("Ivanov", "Russian")]
    (folder / "Russian.txt").write_text("Petrov\n", encoding="utf-8")
    with pytest.raises(DataError, match="both hold label 'Russian'"):
        read_labelled(folder)
    (folder / "Russian.txt").unlink()
    (folder / "Russian.TXT").write_bytes("Müller\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"Russian.TXT is not UTF-8 \(line 1\); convert it"):
        read_labelled(folder)


def test_names_that_fold_to_only_spaces_are_not_training_pairs(tmp_path):
    """A cell holding a space (Excel exports have them) once crashed train when its pair fell in a training fold."""
    path = tmp_path / "d.csv"
    path.write_text("name,label\n ,Greek\n😀 😀,Greek\n1 2,Russian\nIvanov,Russian\nPapas,Greek\n", encoding="utf-8")
    assert [(p.name, p.label) for p in read_labelled(path).pairs] == [("Ivanov", "Russian"), ("Papas", "Greek")]


def test_a_stray_quote_in_training_data_is_refused_naming_its_line(tmp_path):
    """A lone '"Brien,Irish' swallowed the next rows into one name with line breaks and made up a label."""
    path = tmp_path / "stray.csv"
    path.write_text('name,label\nSmith,English\n"Brien,Irish\nPapas,Greek\nKim,"Korean\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"stray.csv, line 3: a quoted field runs over several lines"):
        read_labelled(path)


def test_names_must_be_text_labels_may_be_any_value(tmp_path):
    """classify refuses a numeric name column; training data and --names read it the same way now."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rnnexport.data.labelled import read_names

    pq.write_table(pa.table({"name": [1, 2], "label": ["a", "b"]}), tmp_path / "numbers.parquet")
    for read in (read_labelled, read_names):
        with pytest.raises(RnnExportError, match=r"column 'name' holds int64, not text; choose the names' column"):
            read(tmp_path / "numbers.parquet")
    pq.write_table(pa.table({"name": ["Smith", "Kim"], "label": [0, 1]}), tmp_path / "coded.parquet")
    assert read_labelled(tmp_path / "coded.parquet").labels == ["0", "1"]


def test_a_tsv_is_read_by_its_content_as_classify_reads_it(tmp_path):
    """.tsv forced tab: a comma-separated file so named read as one column called 'name,label'."""
    (tmp_path / "comma.tsv").write_text("name,label\nSmith,a\nKim,b\n", encoding="utf-8")
    (tmp_path / "tab.tsv").write_text("name\tlabel\nSmith\ta\nKim\tb\n", encoding="utf-8")
    for name in ("comma.tsv", "tab.tsv"):
        assert [(p.name, p.label) for p in read_labelled(tmp_path / name).pairs] == [("Smith", "a"), ("Kim", "b")]
