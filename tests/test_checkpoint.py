"""rnnexport.checkpoint: a plain dict of tensors and values, saved atomically, loaded with weights_only."""

import pytest
import torch

from rnnexport.data.fetch import EXPECTED_LABELS
from rnnexport.errors import CheckpointError, FoldVersionWarning
from rnnexport.model.cell import CharRNN, ModelConfig
from rnnexport.model.checkpoint import (
    FORMAT,
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from rnnexport.text.alphabet import ALPHABET
from rnnexport.text.fold import fold_identity


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return CharRNN(ModelConfig(len(ALPHABET), 16, len(EXPECTED_LABELS))).eval()


def test_round_trip_gives_the_same_model(small_model, tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint(make_checkpoint(small_model, list(EXPECTED_LABELS), ALPHABET, {"seed": 0}, {"accuracy": 0.5}), path)
    loaded = load_checkpoint(path)
    assert (loaded["format"], loaded["hidden_size"], loaded["labels"]) == (FORMAT, 16, list(EXPECTED_LABELS))
    assert loaded["config"] == {"seed": 0} and loaded["metrics"] == {"accuracy": 0.5}
    assert loaded["alphabet"] == ALPHABET and loaded["fold"] == fold_identity()
    indices, lengths = torch.tensor([[3, 4], [5, 0]]), torch.tensor([2, 1])
    rebuilt = model_from_checkpoint(loaded)
    torch.testing.assert_close(rebuilt(indices, lengths), small_model(indices, lengths), rtol=0, atol=0)
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no partial file left


def test_missing_keys_are_named(small_model, tmp_path):
    checkpoint = make_checkpoint(small_model, list(EXPECTED_LABELS), ALPHABET, {}, {})
    del checkpoint["labels"], checkpoint["metrics"]
    torch.save(checkpoint, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="lacks keys: labels, metrics"):
        load_checkpoint(tmp_path / "c.pt")


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04truncated"])
def test_corrupt_files_are_checkpoint_errors(tmp_path, content):
    (tmp_path / "c.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "c.pt")


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(CheckpointError, match="run `rnnexport train`"):
        load_checkpoint(tmp_path / "absent.pt")


def test_weights_of_another_shape_are_refused(small_model):
    checkpoint = make_checkpoint(small_model, list(EXPECTED_LABELS), ALPHABET, {}, {})
    checkpoint["hidden_size"] = 32
    with pytest.raises(CheckpointError, match="do not fit the model"):
        model_from_checkpoint(checkpoint)


def _saved_with_fold(small_model, tmp_path, **fold_changes):
    checkpoint = make_checkpoint(small_model, list(EXPECTED_LABELS), ALPHABET, {}, {})
    checkpoint["fold"] = {**checkpoint["fold"], **fold_changes}
    torch.save(checkpoint, tmp_path / "c.pt")
    return tmp_path / "c.pt"


@pytest.mark.parametrize("change", [{"library": "unidecode"}, {"normalization": "NFD"}])
def test_another_fold_library_or_normalisation_is_refused(small_model, tmp_path, change):
    with pytest.raises(CheckpointError, match="retrain it with this rnnexport"):
        load_checkpoint(_saved_with_fold(small_model, tmp_path, **change))


def test_a_checkpoint_without_a_fold_record_is_refused(small_model, tmp_path):
    checkpoint = make_checkpoint(small_model, list(EXPECTED_LABELS), ALPHABET, {}, {})
    del checkpoint["fold"]
    torch.save(checkpoint, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="lacks keys: fold"):
        load_checkpoint(tmp_path / "c.pt")


def test_another_fold_version_loads_with_a_warning(small_model, tmp_path):
    path = _saved_with_fold(small_model, tmp_path, version="0.0.1")
    with pytest.warns(FoldVersionWarning, match=r"anyascii 0\.0\.1.*retrain and re-export it with this install"):
        assert load_checkpoint(path)["fold"]["version"] == "0.0.1"


@pytest.mark.parametrize(
    ("alphabet", "problem"), [("", "is empty"), ("abca", "repeats 'a'"), ("abé", "printable ASCII")]
)
def test_a_bad_alphabet_is_refused(small_model, tmp_path, alphabet, problem):
    checkpoint = make_checkpoint(small_model, list(EXPECTED_LABELS), ALPHABET, {}, {})
    checkpoint["alphabet"] = alphabet
    torch.save(checkpoint, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=problem):
        load_checkpoint(tmp_path / "c.pt")


def test_the_same_checkpoint_saves_to_the_same_bytes(tmp_path):
    """torch.save named its zip's folder after the random partial file, so equal checkpoints differed in bytes."""
    from rnnexport.model.checkpoint import save_checkpoint

    checkpoint = {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "labels": ["a", "b"]}
    save_checkpoint(checkpoint, tmp_path / "one.pt")
    save_checkpoint(checkpoint, tmp_path / "two" / "checkpoint.pt")
    assert (tmp_path / "one.pt").read_bytes() == (tmp_path / "two" / "checkpoint.pt").read_bytes()
