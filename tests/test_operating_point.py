"""rnnexport.operating_point: τ and T folded into v, and re-baking another τ from the checkpoint alone."""

import pytest
import torch
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.data.fetch import EXPECTED_LABELS
from rnnexport.data.labelled import read_pairs
from rnnexport.data.split import split_pairs
from rnnexport.errors import CheckpointError
from rnnexport.model.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint
from rnnexport.text.encode import encode_ragged
from rnnexport.training.evaluation import log_probs_of
from rnnexport.training.loop import train
from rnnexport.training.operating_point import adjusted_log_probs, apply_operating_point, reshift_checkpoint
from rnnexport.training.recipes import recipe_config
from tests.helpers import assert_parity, float64_log_probs

LABELS = list(EXPECTED_LABELS)


def tiny_run(tiny_names_dir, prior_shift):
    split = split_pairs(read_pairs(tiny_names_dir))
    config = recipe_config("adamw", iterations=40, batch_size=16, seed=5, lr=0.02, calibration_holdback=0.3,
                           prior_shift=prior_shift)  # fmt: skip
    return split, train(split, LABELS, config)


def as_checkpoint(result):
    return make_checkpoint(result.model, LABELS, result.config.alphabet, {"prior_shift": result.config.prior_shift},
                           result.metrics, result.operating_point.as_dict())  # fmt: skip


def test_folded_readout_equals_shifting_and_scaling_the_log_probs(tiny_names_dir):
    split, result = tiny_run(tiny_names_dir, prior_shift=0.7)
    point = result.operating_point
    assert point.prior_shift == 0.7 and point.temperature != 1.0 and len(point.calibration_label_ids) > 0
    names = [p.name for p in split.train]
    unshifted = model_from_checkpoint(as_checkpoint(result))
    apply_operating_point(unshifted, type(point)(**{**point.as_dict(), "prior_shift": 0.0, "temperature": 1.0}))
    padded = encode_ragged(names, result.config.alphabet).padded()
    unshifted_float64 = float64_log_probs(unshifted, padded.indices, padded.lengths)
    expected = adjusted_log_probs(unshifted_float64, point.label_frequencies, 0.7, point.temperature)
    assert_parity(expected, log_probs_of(result.model, names), names, "v with τ and T folded in")


def test_reshifting_a_checkpoint_is_exactly_training_at_that_shift(tiny_names_dir):
    _, at_zero = tiny_run(tiny_names_dir, prior_shift=0.0)
    _, at_one = tiny_run(tiny_names_dir, prior_shift=1.0)
    reshifted = reshift_checkpoint(as_checkpoint(at_zero), 1.0)
    for name, tensor in at_one.model.state_dict().items():
        assert torch.equal(reshifted["state_dict"][name], tensor), name
    assert reshifted["operating_point"]["temperature"] == at_one.operating_point.temperature
    back = reshift_checkpoint(reshifted, 0.0)
    for name, tensor in at_zero.model.state_dict().items():
        assert torch.equal(back["state_dict"][name], tensor), name


def test_a_checkpoint_without_an_operating_point_reads_at_zero_and_cannot_be_reshifted(tiny_names_dir):
    _, result = tiny_run(tiny_names_dir, prior_shift=0.0)
    checkpoint = as_checkpoint(result)
    del checkpoint["operating_point"]
    assert reshift_checkpoint(checkpoint, 0.0) is checkpoint
    with pytest.raises(CheckpointError, match="retrain"):
        reshift_checkpoint(checkpoint, 0.5)


def test_export_prior_shift_rebakes_and_records_it(tiny_model_dir, tmp_path):
    names_csv = tmp_path / "names.csv"
    names_csv.write_text("name\nAbc\nZyx\nO'Neill\n")
    args = ["export", "--checkpoint", str(tiny_model_dir / "checkpoint.pt"), "--out", str(tmp_path / "out"),
            "--names", str(names_csv), "--prior-shift", "1.0"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    import json

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["operating_point"]["prior_shift"] == 1.0
    exported = load_checkpoint(tmp_path / "out" / "checkpoint.pt")
    original = load_checkpoint(tiny_model_dir / "checkpoint.pt")
    assert torch.equal(exported["state_dict"]["w.weight"], original["state_dict"]["w.weight"])
    assert not torch.equal(exported["state_dict"]["v.bias"], original["state_dict"]["v.bias"])


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_export_refuses_a_prior_shift_that_is_not_finite(tiny_model_dir, tmp_path, value):
    args = ["export", "--checkpoint", str(tiny_model_dir / "checkpoint.pt"), "--out", str(tmp_path / "out"),
            "--prior-shift", value]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "not a finite number" in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()
