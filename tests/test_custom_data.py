"""Your own data, end to end: a generated CSV with 3 labels and a lowercase-only alphabet, trained and exported
through the CLI (conftest.three_label_model_dir); every artifact, runtime and command takes labels, alphabet and
sizes from the model. The C++ and Node consumers run on the same model in tests/test_embed.py."""

from __future__ import annotations

import csv
import json
import zipfile

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from rnnexport.classify.csv_output import PROBABILITY_DECIMALS
from rnnexport.cli.app import main
from rnnexport.errors import ArtifactError, FoldVersionWarning
from rnnexport.runtimes.registry import DEFAULT_RUNTIMES, open_runtime
from rnnexport.text.fold import fold, fold_identity
from tests.conftest import LOWERCASE, THREE_LABELS, write_three_label_csv
from tests.helpers import (
    assert_parity,
    assert_printed_probabilities,
    reference_log_probs,
    reference_rows,
    rehash_in_manifest,
)

pytestmark = pytest.mark.slow  # trains and exports a model (~15 s)

NAMES = ["Łukasz", "Søren", "O’Brien", "McKinley", "Zhou", "12345", "Bjorn"]


def invoke(*args: str):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_every_artifact_records_the_models_labels_alphabet_sizes_and_fold(three_label_model_dir):
    model_dir = three_label_model_dir
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert (manifest["labels"], manifest["alphabet"], manifest["hidden_size"]) == (list(THREE_LABELS), LOWERCASE, 12)
    assert manifest["fold"] == fold_identity()
    checkpoint = torch.load(model_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["state_dict"]["u.weight"].shape == (12, 26) and checkpoint["state_dict"]["v.weight"].shape[0] == 3
    assert checkpoint["fold"] == fold_identity() and checkpoint["config"]["alphabet"] == LOWERCASE
    for file_name in ("char_rnn.onnx", "char_rnn_cell.onnx"):
        metadata = {p.key: p.value for p in onnx.load(str(model_dir / file_name)).metadata_props}
        assert metadata["alphabet"] == LOWERCASE and json.loads(metadata["labels"]) == list(THREE_LABELS)
        assert json.loads(metadata["fold"]) == fold_identity() and metadata["hidden_size"] == "12"
    with zipfile.ZipFile(model_dir / "char_rnn.pt") as archive:
        name = next(n for n in archive.namelist() if n.endswith("extra/metadata.json"))
        metadata = json.loads(archive.read(name))
    assert (metadata["alphabet"], metadata["labels"], metadata["fold"]) == (
        LOWERCASE,
        list(THREE_LABELS),
        fold_identity(),
    )


def test_the_fold_table_folds_to_the_models_alphabet(three_label_model_dir):
    content = json.loads((three_label_model_dir / "fold_table.json").read_text())
    assert (content["alphabet"], content["max_code_point"], content["fold"]) == (LOWERCASE, "10FFFF", fold_identity())
    table = content["table"]
    assert set("".join(table.values())) <= set(LOWERCASE)
    assert (table["0141"], table["0041"], table["00DF"], table["4E2D"]) == ("l", "a", "ss", "zhong")
    assert "0020" not in table and "0027" not in table  # no space, no apostrophe in this alphabet
    for name in NAMES:
        assert "".join(table.get(f"{ord(c):04X}", "") for c in name) == fold(name, LOWERCASE)


def test_verify_passes_on_every_runtime(three_label_model_dir, tmp_path):
    names = write_three_label_csv(tmp_path / "names.csv", per_label=20, seed=5)
    result = invoke("verify", "--model-dir", three_label_model_dir, "--names", names, "--name-column", "surname")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[3:8]] == [
        "torch",
        "torchscript",
        "export",
        "onnx-cell",
        "onnx",
    ]


@pytest.mark.parametrize("runtime", DEFAULT_RUNTIMES)
def test_classify_writes_the_models_labels_in_every_runtime(three_label_model_dir, tmp_path, runtime):
    source = tmp_path / "in.csv"
    source.write_text("name\n" + "\n".join(NAMES) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = invoke("classify", source, "-o", out, "--runtime", runtime, "--top-k", 3, "--check",
                    "--model-dir", three_label_model_dir)  # fmt: skip
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["name", "language", "probability", "language_2", "probability_2", "language_3",
                             "probability_3"]  # fmt: skip
    _, reference = reference_rows(three_label_model_dir, NAMES)
    for row, expected in zip(rows, reference, strict=True):
        if row["name"] == "12345":
            assert row["language"] == ""
            continue
        shown = [row[key] for key in ("language", "language_2", "language_3")]
        assert sorted(shown) == list(THREE_LABELS)
        printed = np.array([float(row[key]) for key in ("probability", "probability_2", "probability_3")])
        in_order = expected[[THREE_LABELS.index(label) for label in shown]]
        assert_printed_probabilities(printed, in_order, PROBABILITY_DECIMALS, row["name"])
    # the name with ’ was classified after losing it; the digits are skipped
    assert "7 records in, 7 rows out (1 skipped: no letter, 1 name lost characters in folding)" in result.output


def test_top_k_beyond_the_models_labels_is_refused_naming_the_number_to_use(three_label_model_dir, tmp_path):
    # One rule for classify, predict and examples/node (issue 23): an explicit top-k beyond the labels is refused
    # with the number to use, never capped; predict's default of 3 shows every label of a smaller model.
    expected = "--top-k 4 is more than the model's 3 labels; use --top-k 3 (or fewer)"
    (tmp_path / "in.csv").write_text("name\nSmith\n")
    result = invoke("classify", tmp_path / "in.csv", "--top-k", 4, "--model-dir", three_label_model_dir)
    assert result.exit_code == 2 and expected in result.output  # a usage error, as for any bad option
    result = invoke("predict", "Smith", "--top-k", 4, "--model-dir", three_label_model_dir)
    assert result.exit_code == 2 and expected in result.output
    result = invoke("predict", "Smith", "--model-dir", three_label_model_dir)
    assert result.exit_code == 0 and result.output.count(" 0.") == 3


@pytest.mark.parametrize("runtime", DEFAULT_RUNTIMES)
def test_predict_shows_the_folded_form_in_every_runtime(three_label_model_dir, runtime):
    result = invoke("predict", "Łukasz", "ko", "😀", "--runtime", runtime, "--model-dir", three_label_model_dir)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Łukasz -> lukasz: ") and lines[1].startswith("ko: ")
    assert sorted(part.split()[0] for part in lines[0].split(": ", 1)[1].split(", ")) == list(THREE_LABELS)
    assert lines[2] == "😀: no prediction (no letter of the alphabet)"


def test_runtimes_agree_on_the_models_alphabet(three_label_model_dir):
    runtimes = [open_runtime(name, three_label_model_dir) for name in DEFAULT_RUNTIMES]
    assert {runtime.alphabet for runtime in runtimes} == {LOWERCASE}
    indices, lengths = np.array([[0, 25], [11, 3], [2, 0]]), np.array([3, 2])
    reference = reference_log_probs(three_label_model_dir, indices, lengths)
    for runtime in runtimes:
        assert_parity(reference, runtime.log_probs(indices, lengths), ["alc", "zd"], runtime.name)


def test_evaluate_reads_the_same_data(three_label_model_dir, tmp_path):
    data = write_three_label_csv(tmp_path / "people.csv")  # the same rows as training: the same held-out split
    result = invoke("evaluate", "--model-dir", three_label_model_dir, "--data", data, "--name-column", "surname",
                    "--label-column", "origin")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[2:5]] == list(THREE_LABELS)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,label\nSmith,x\nJones,y\n")
    result = invoke("evaluate", "--model-dir", three_label_model_dir, "--data", wrong)
    assert result.exit_code == 1 and "labels the model does not know: x, y" in result.output


def _set_onnx_fold(model_dir, **changes) -> None:
    path = model_dir / "char_rnn.onnx"
    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == "fold":
            entry.value = json.dumps({**json.loads(entry.value), **changes})
    onnx.save(proto, str(path))
    rehash_in_manifest(model_dir, "char_rnn.onnx")


def test_a_model_of_another_fold_version_warns_and_of_another_library_is_refused(three_label_model_dir, tmp_path):
    import shutil

    model_dir = shutil.copytree(three_label_model_dir, tmp_path / "model")
    _set_onnx_fold(model_dir, version="0.1.0")
    with pytest.warns(FoldVersionWarning, match="anyascii 0.1.0"):
        open_runtime("onnx", model_dir)
    result = invoke("predict", "Smith", "--model-dir", model_dir)
    assert result.exit_code == 0 and "Warning: the model was folded with NFKC + anyascii 0.1.0" in result.output
    _set_onnx_fold(model_dir, library="unidecode")
    with pytest.raises(ArtifactError, match="folded with NFKC \\+ unidecode"):
        open_runtime("onnx", model_dir)
    result = invoke("predict", "Smith", "--model-dir", model_dir)
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "retrain it" in result.output


def test_verify_of_a_custom_model_never_uses_another_models_data_set(three_label_model_dir, tmp_path):
    """The 18-language data set is not a 3-label lowercase model's domain: verify checks the names the model was
    trained on (its checkpoint records where); --names with --name-column picks names from a CSV with several
    columns. (Without either: generated names, as test_verify.py's test of the packaged model shows.)"""
    runner = CliRunner()
    result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir)])
    assert result.exit_code == 0, result.output
    assert "(its training data, " in result.output and "people.csv (column 'surname')" in result.output
    people = tmp_path / "people.csv"
    people.write_text("id,surname,origin\n1,Kovalsk,east\n2,Håkon,north\n3,McFinn,west\n", encoding="utf-8")
    result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir), "--names", str(people)])
    assert result.exit_code == 1
    assert "no column called 'name'; columns are: id, surname, origin; use --name-column" in result.output
    result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir), "--names", str(people),
                                  "--name-column", "1"])  # fmt: skip
    assert result.exit_code == 1
    assert "Error: no name to verify on: every name" in result.output and "(column 'id')" in result.output
    pq.write_table(pa.table({"id": [1, 2, 3], "surname": ["Kovalsk", "Håkon", "McFinn"]}), tmp_path / "people.pq")
    for names in (people, tmp_path / "people.pq"):  # CSV and Parquet, read as classify reads them
        result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir), "--names", str(names),
                                      "--name-column", "Surname"])  # fmt: skip
        assert result.exit_code == 0 and "on 3 names" in result.output and "(column 'surname')" in result.output
    result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir), "--names", str(people),
                                  "--name-column", "nom"])  # fmt: skip
    assert result.exit_code == 1 and "column 'nom' not found; columns are: id, surname, origin" in result.output
    folder = tmp_path / "by-label"  # a model trained on a folder is verified on that folder's names
    folder.mkdir()
    (folder / "east.txt").write_text("Kovalsk\nŁukasz\n", encoding="utf-8")
    (folder / "west.TXT").write_text("McFinn\n", encoding="utf-8")
    result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir), "--names", str(folder)])
    assert result.exit_code == 0 and "on 3 names" in result.output and "(2 label files)" in result.output
    result = runner.invoke(main, ["verify", "--model-dir", str(three_label_model_dir), "--names", str(folder),
                                  "--name-column", "name"])  # fmt: skip
    assert result.exit_code == 2 and "has no columns; drop --name-column" in result.output


def test_predict_shows_every_label_of_a_model_with_fewer_than_three(tmp_path):
    """predict's default top-k is 3, capped at the model's labels (a 2-label model failed with the default)."""
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "east.txt").write_text("Kovalsky\nNowak\nKowal\nNovak\n", encoding="utf-8")
    (folder / "west.txt").write_text("Smith\nSmyth\nBrown\nBraun\n", encoding="utf-8")
    runner = CliRunner()
    trained = runner.invoke(main, ["train", "--data", str(folder), "--iterations", "5", "--hidden-size", "8",
                                   "--out", str(tmp_path / "model"), "--quiet"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    exported = runner.invoke(main, ["export", "--out", str(tmp_path / "model")])
    assert exported.exit_code == 0, exported.output
    result = runner.invoke(main, ["predict", "Nowak", "--model-dir", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    assert result.output.count("east") + result.output.count("west") == 2  # both labels, once each


def test_train_records_its_data_and_evaluate_reads_it_again(tmp_path):
    """evaluate --model-dir of a model trained on a CSV said 'no names data: run rnnexport data'; names without a
    letter of the alphabet were dropped without a word."""
    data = write_three_label_csv(tmp_path / "people.csv", per_label=30, seed=2)
    with data.open("a", encoding="utf-8") as handle:
        handle.write("123,east\n😀,west\n")
    model = tmp_path / "m"
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--name-column", "surname", "--label-column",
                                       "origin", "--alphabet", LOWERCASE, "--hidden-size", "8", "--iterations", "5",
                                       "--out", str(model), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Warning: 2 of 92 names have no letter of the alphabet and were dropped ({data})" in result.stderr
    record = json.loads((model / "training.json").read_text())["data"]
    assert record == {"names": 92, "without_letter": 2, "pairs": record["pairs"], "path": str(data.resolve()),
                      "name_column": "surname", "label_column": "origin"}  # fmt: skip
    result = CliRunner().invoke(main, ["evaluate", "--model-dir", str(model)])
    assert result.exit_code == 0, result.output
    assert f"held-out pairs of {data.resolve()}" in result.output
    result = CliRunner().invoke(main, ["export", "--out", str(model)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["verify", "--model-dir", str(model)])  # on the names it was trained on
    assert result.exit_code == 0, result.output
    assert f"its training data, {data.resolve()} (column 'surname')" in result.output
    assert json.loads((model / "parity.json").read_text())["names_source"].startswith("its training data")
    original = data.read_bytes()
    data.write_text("name,label\nSmith,east\n", encoding="utf-8")  # the same path, other columns
    result = CliRunner().invoke(main, ["verify", "--model-dir", str(model)])
    assert result.exit_code == 0 and "its training data no longer reads (" in result.output, result.output
    result = CliRunner().invoke(main, ["evaluate", "--model-dir", str(model)])
    assert result.exit_code == 1 and "was trained on, no longer reads as then: " in result.output
    assert result.output.rstrip().endswith("; pass --data"), result.output
    data.write_bytes(original)
    data.rename(tmp_path / "moved.csv")
    result = CliRunner().invoke(main, ["evaluate", "--model-dir", str(model)])
    assert result.exit_code == 1 and "the data" in result.output and "is gone; pass --data" in result.output
