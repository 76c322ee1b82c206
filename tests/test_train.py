import json
import os
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.data.fetch import EXPECTED_LABELS
from rnnexport.data.labelled import read_pairs
from rnnexport.data.split import split_pairs
from rnnexport.model.cell import CharRNN, ModelConfig
from rnnexport.model.checkpoint import PARAMETER_NAMES, REQUIRED_KEYS, load_checkpoint, model_from_checkpoint
from rnnexport.text.encode import encode_names
from rnnexport.training.loop import batch_loss, make_training_set, train
from rnnexport.training.recipes import RECIPES, recipe_config
from rnnexport.training.updates import sgd_step


def test_one_manual_step_moves_each_parameter_by_minus_lr_times_grad():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig())
    data = make_training_set(["Smith", "Li", "Dvorak"], [4, 1, 2])
    loss = batch_loss(model, data, torch.tensor([0, 1, 2]), None)
    loss.backward()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    sgd_step(model, lr=0.1, clip_grad_norm=None)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[name] - 0.1 * grads[name], atol=1e-7, rtol=0)
        assert p.grad is None


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_a_batch_of_one_letter_names_leaves_w_unreached_and_still_steps(optimizer):
    """h_1 = tanh(u(x_1) + biases): a batch of one-letter names gives w.weight no gradient (None), which is a
    zero gradient, not a crash (found training on --alphabet abc)."""
    from rnnexport.training.updates import make_update

    torch.manual_seed(0)
    model = CharRNN(ModelConfig())
    config = replace(recipe_config("adamw" if optimizer == "adamw" else "sgd"), clip_grad_norm=1.0)
    data = make_training_set(["A", "b", "C"], [0, 1, 2])
    batch_loss(model, data, torch.tensor([0, 1, 2]), None).backward()
    assert model.w.weight.grad is None and model.u.weight.grad is not None
    before = model.w.weight.detach().clone()
    make_update(model, config)(0.1)
    decay = 1.0 - 0.1 * config.weight_decay
    torch.testing.assert_close(model.w.weight.detach(), before * decay, atol=1e-7, rtol=0)  # only the decay


def test_training_module_updates_by_hand_only():
    import ast
    from pathlib import Path

    import rnnexport.training.updates

    for path in Path(rnnexport.training.updates.__file__).parent.glob("*.py"):  # every module of training/
        source = path.read_text(encoding="utf-8")
        imported = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import | ast.ImportFrom)]
        assert not any("optim" in ast.unparse(node) for node in imported), path
        assert "optim." not in source.replace("never torch.optim", ""), path
    source = Path(rnnexport.training.updates.__file__).read_text(encoding="utf-8")
    assert "with torch.no_grad():" in source and "p -= " in source


def test_seed_recipe_is_the_tutorials():
    seed = RECIPES["seed"]
    assert (seed.batch_size, seed.lr, seed.iterations, seed.sampling) == (1, 0.005, 200_000, "balanced")
    assert seed.class_weight_power == 0 and seed.clip_grad_norm is None and seed.lr_schedule == "constant"


@pytest.mark.parametrize("recipe", ["default", "adamw"])
def test_same_seed_same_weights(tiny_names_dir, recipe):
    split = split_pairs(read_pairs(tiny_names_dir))
    config = recipe_config(recipe, iterations=15, batch_size=8, seed=3)
    first = train(split, list(EXPECTED_LABELS), config).model.state_dict()
    second = train(split, list(EXPECTED_LABELS), config).model.state_dict()
    for name in first:
        assert torch.equal(first[name], second[name])


@pytest.mark.parametrize("sampling", ["balanced", "shuffled"])
def test_train_command_writes_all_outputs(tiny_names_dir, tmp_path, sampling):
    out = tmp_path / "run"
    args = ["train", "--names-dir", str(tiny_names_dir), "--iterations", "12", "--batch-size", "4",
            "--sampling", sampling, "--out", str(out), "--quiet", "--seed", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output
    for name in ("checkpoint.pt", "training.json", "loss_curve.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "training.json").read_text())
    assert report["config"]["sampling"] == sampling
    assert set(report["per_label_recall"]) == set(EXPECTED_LABELS)
    assert {"loss_per_epoch", "held_out_accuracy", "held_out_balanced_accuracy", "wall_seconds"} <= set(report)


def test_checkpoint_loads_with_weights_only_and_holds_every_key(tiny_model_dir):
    raw = torch.load(tiny_model_dir / "checkpoint.pt", weights_only=True)
    assert set(REQUIRED_KEYS) <= set(raw)
    assert set(PARAMETER_NAMES) == set(raw["state_dict"])
    assert raw["labels"] == list(EXPECTED_LABELS) and raw["hidden_size"] == 128
    assert raw["state_dict"]["u.weight"].shape == (128, 57)
    model = model_from_checkpoint(load_checkpoint(tiny_model_dir / "checkpoint.pt"))
    encoded = encode_names(["Abc"])
    assert model(torch.from_numpy(encoded.indices), torch.from_numpy(encoded.lengths)).shape == (1, 18)


def test_train_without_data_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNNEXPORT_NAMES_DIR", raising=False)
    result = CliRunner().invoke(main, ["train", "--quiet"])
    assert result.exit_code == 1
    assert "rnnexport data --from DIR" in result.output


def test_evaluate_prints_the_held_out_table(real_names_dir, committed_model_dir):
    result = subprocess.run(
        [sys.executable, "-m", "rnnexport", "evaluate", "--checkpoint", str(committed_model_dir / "checkpoint.pt"),
         "--names-dir", str(real_names_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "balanced" in result.stdout and "Vietnamese" in result.stdout
    stored = load_checkpoint(committed_model_dir / "checkpoint.pt")["metrics"]
    assert f"{stored['accuracy']:.3f}" in result.stdout


def test_recipe_config_refuses_unknown_choices():
    with pytest.raises(ValueError, match="sampling must be one of"):
        recipe_config("default", sampling="random")
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe_config("fast")


def test_first_adamw_step_is_sign_like_and_decays_weights():
    """At t = 1 the bias-corrected Adam step is g / (|g| + eps); decay multiplies p by 1 - lr * weight_decay."""
    from rnnexport.training.updates import adam_state, adamw_step

    torch.manual_seed(0)
    model = CharRNN(ModelConfig())
    data = make_training_set(["Smith", "Li", "Dvorak"], [4, 1, 2])
    batch_loss(model, data, torch.tensor([0, 1, 2]), None).backward()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    config = replace(recipe_config("adamw"), clip_grad_norm=None)
    adamw_step(model, adam_state(model), lr=0.01, config=config)
    for name, p in model.named_parameters():
        step = grads[name] / (grads[name].abs() + config.adam_eps)
        expected = before[name] * (1 - 0.01 * 0.1) - 0.01 * step
        torch.testing.assert_close(p.detach(), expected, atol=1e-6, rtol=0)
        assert p.grad is None


def test_recipes_by_name():
    default = RECIPES["default"]
    assert (default.optimizer, default.lr, default.epochs, default.class_weight_power, default.weight_decay) == (
        "adamw", 4e-3, 60.0, 0, 0.1)  # fmt: skip
    assert (default.case_lower, default.case_upper, default.prior_shift, default.calibration_holdback) == (
        0.2, 0.3, 0.52, 0.1)  # fmt: skip
    assert default.spectral_bound == 1.5 and default.calibration_model == "sibling"
    adamw = RECIPES["adamw"]
    assert replace(adamw, recipe="default", epochs=60.0, case_upper=0.3, spectral_bound=1.5) == default
    sgd = RECIPES["sgd"]
    assert (sgd.optimizer, sgd.lr, sgd.epochs, sgd.class_weight_power, sgd.weight_decay) == (
        "sgd", 0.5, 30.0, 0.65, 5e-4)  # fmt: skip
    assert (sgd.case_lower, sgd.case_upper, sgd.prior_shift, sgd.calibration_holdback, sgd.spectral_bound) == (
        0, 0, 0, 0, None)  # fmt: skip
    assert replace(RECIPES["sgd-2024"], recipe="sgd") == sgd
    assert RECIPES["seed"].optimizer == "sgd" and RECIPES["seed"].batch_size == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--alphabet", "aab"], "Error: Invalid value: the alphabet repeats 'a'; list each symbol once"),
        (["--alphabet", ""], "Error: Invalid value: the alphabet is empty"),
        (["--alphabet", "abcé"], "only printable ASCII"),
        (["--hidden-size", "0"], "--hidden-size"),
    ],
)
def test_bad_alphabet_or_hidden_size_is_one_error_line(tiny_names_dir, tmp_path, args, expected):
    result = CliRunner().invoke(main, ["train", "--data", str(tiny_names_dir), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and expected in result.output  # a usage error, before any data is read
    assert not (tmp_path / "o").exists()


def test_too_little_data_for_a_held_out_split_is_refused(tmp_path):
    (tmp_path / "d.csv").write_text("name,label\nSmith,a\nJones,b\n")
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "held-out pairs: both need at least one" in result.output


@pytest.mark.parametrize(
    "override",
    [{"optimizer": "adam"}, {"case_lower": 1.5}, {"calibration_holdback": 1.0}, {"prior_shift": float("nan")}],
)
def test_recipe_config_refuses_bad_new_fields(override):
    with pytest.raises(ValueError):
        recipe_config("default", **override)


def test_training_records_the_operating_point(tiny_model_dir):
    raw = torch.load(tiny_model_dir / "checkpoint.pt", weights_only=True)
    point = raw["operating_point"]
    assert len(point["label_frequencies"]) == 18 and abs(sum(point["label_frequencies"]) - 1) < 1e-9
    assert point["unshifted_v"]["weight"].shape == (18, 128)
    report = json.loads((tiny_model_dir / "training.json").read_text())
    assert report["operating_point"]["prior_shift"] == point["prior_shift"]
    assert set(report["held_out_case"]) == {"original", "lower", "upper"} and 0 <= report["held_out_ece"] <= 1


@pytest.mark.parametrize(
    "override",
    [{"iterations": 0}, {"epochs": 0.0}, {"epochs": -3.0}, {"lr": float("nan")}, {"lr": float("inf")}, {"lr": -0.1},
     {"lr": 11.0}, {"batch_size": 0}, {"weight_decay": -1.0}, {"seed": -1}, {"lr": 2.0, "weight_decay": 0.5}],
)  # fmt: skip
def test_unusable_configs_are_refused(override):
    with pytest.raises(ValueError, match="must be"):
        recipe_config("default", **override)


def test_a_loss_that_stops_being_finite_stops_training_and_writes_nothing(tiny_names_dir, tmp_path, monkeypatch):
    """Class weights count**-1000 underflow to 0/0: the loss is NaN from the first step. The existing model
    folder is left as it was."""
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "checkpoint.pt").write_bytes(b"the old model")
    monkeypatch.chdir(tmp_path)
    args = ["train", "--names-dir", str(tiny_names_dir), "--class-weight-power", "1000", "--iterations", "5"]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: the loss became") and "lower --lr" in result.stderr
    assert [p.name for p in (tmp_path / "exported").iterdir()] == ["checkpoint.pt"]
    assert (tmp_path / "exported" / "checkpoint.pt").read_bytes() == b"the old model"


def test_training_outputs_are_swapped_in_together(tiny_names_dir, tmp_path, monkeypatch):
    """A failure while writing (here: the second plot) leaves the existing folder exactly as it was."""
    from rnnexport.training import reports

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "checkpoint.pt").write_bytes(b"the old model")
    monkeypatch.setattr(reports, "plot_confusion_matrix", lambda *args: (_ for _ in ()).throw(OSError("boom")))
    split = split_pairs(read_pairs(tiny_names_dir))
    result = train(split, list(EXPECTED_LABELS), recipe_config("default", iterations=2, batch_size=4))
    from rnnexport.training.reports import write_training_outputs

    with pytest.raises(OSError, match="boom"):
        write_training_outputs(result, list(EXPECTED_LABELS), tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["checkpoint.pt"]
    assert (tmp_path / "out" / "checkpoint.pt").read_bytes() == b"the old model"


def test_a_label_without_a_training_name_is_refused_with_the_reason(tmp_path):
    """A label whose names all fold to nothing, or whose only names are held out, once trained silently: the
    model learned nothing for it, and a prior shift made it win ('Smith -> Emoji')."""
    from rnnexport.data.labelled import Pair
    from rnnexport.data.split import Split, is_held_out
    from rnnexport.errors import DataError
    from rnnexport.training.loop import check_every_label_trained

    rare = next(Pair(f"Zz{i}", "Rare") for i in range(1000) if is_held_out(Pair(f"Zz{i}", "Rare")))
    split = Split(train=[Pair("Ivanov", "Russian")], held_out=[Pair("Petrov", "Russian"), rare])
    with pytest.raises(DataError, match=r"'Emoji' \(no name of it has a letter.*'Rare' \(its only names are held"):
        check_every_label_trained(split, ["Emoji", "Rare", "Russian"])
    check_every_label_trained(split, ["Russian"])
    folder = tmp_path / "emo"
    folder.mkdir()
    (folder / "Greek.txt").write_text("".join(f"Papa{c}{d}\n" for c in "abcdef" for d in "klmnop"), encoding="utf-8")
    (folder / "Emoji.txt").write_text("😀\n123\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["train", "--data", str(folder), "--out", str(tmp_path / "m"), "--quiet"])
    assert result.exit_code == 1 and "no training name for label 'Emoji'" in result.output, result.output
    assert not (tmp_path / "m").exists()


EXPORT_NAMES = ["char_rnn.onnx", "char_rnn.pt", "char_rnn.pt2", "char_rnn_cell.onnx", "char_rnn_head.onnx",
                "char_rnn_step.onnx", "fold_table.json", "manifest.json", "parity.json"]  # fmt: skip


def train_into(folder: Path, names_dir: Path):
    return CliRunner().invoke(main, ["train", "--data", str(names_dir), "--iterations", "2", "--hidden-size", "8",
                                     "--out", str(folder), "--quiet"])  # fmt: skip


@pytest.mark.parametrize("copy", ["links followed", "links kept"])
def test_training_into_an_exported_folder_removes_the_earlier_models_export(tiny_model_dir, tiny_names_dir, tmp_path,
                                                                            copy):  # fmt: skip
    """Retraining into an exported folder left the old artifacts: predict and classify served the old model
    (old labels, exit 0) while evaluate read the new checkpoint. The export is removed, and named file by file;
    as plain files (a copy with links followed, an earlier version's export) or as io.generations' set."""
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder, symlinks=copy == "links kept")
    assert all((folder / name).is_file() for name in EXPORT_NAMES)
    (folder / "notes.txt").write_text("mine\n")
    result = train_into(folder, tiny_names_dir)
    assert result.exit_code == 0, result.output
    assert (f"removed the earlier model's export from {folder} (it no longer matches checkpoint.pt): "
            f"{', '.join(EXPORT_NAMES)}; to classify with this model: rnnexport export --out {folder}\n"
            ) in result.output  # fmt: skip
    assert not any(os.path.lexists(folder / name) for name in EXPORT_NAMES)
    assert (folder / "notes.txt").read_text() == "mine\n" and (folder / "checkpoint.pt").exists()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".rnnexport")) == [
        "checkpoint.pt", "confusion_matrix.png", "loss_curve.png", "notes.txt", "reliability.png", "selective.png",
        "training.json",
    ]  # fmt: skip
    result = CliRunner().invoke(main, ["predict", "Smith", "--model-dir", str(folder)])
    assert result.exit_code == 1 and f"not found; run `rnnexport export --out {folder}`" in result.output


def test_training_removes_only_files_it_recognises_as_its_export(tiny_model_dir, tiny_names_dir, tmp_path):
    """`train --out DIR` removed any manifest.json, parity.json, fold_table.json or char_rnn* there (a web app's
    manifest.json too) and said "removed the earlier model's export" when there was none."""
    folder = tmp_path / "webapp"
    folder.mkdir()
    theirs = {"manifest.json": '{"name": "My app", "icons": []}\n', "parity.json": "{}\n",
              "fold_table.json": "[]\n", "char_rnn.onnx": "not a model\n", "char_rnn_notes.txt": "mine\n"}  # fmt: skip
    for name, text in theirs.items():
        (folder / name).write_text(text)
    result = train_into(folder, tiny_names_dir)
    assert result.exit_code == 0, result.output
    assert "removed" not in result.output
    assert {name: (folder / name).read_text() for name in theirs} == theirs
    assert not any((folder / name).is_symlink() for name in theirs)


def test_training_keeps_a_file_that_does_not_match_the_manifest(tiny_model_dir, tiny_names_dir, tmp_path):
    """An rnnexport export whose char_rnn.onnx was replaced by another file: the rest is the export's and goes,
    that file is not (its SHA-256 is not the manifest's) and stays; the message names exactly what went."""
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "char_rnn.onnx").write_bytes(b"someone else's graph")
    result = train_into(folder, tiny_names_dir)
    assert result.exit_code == 0, result.output
    removed = [name for name in EXPORT_NAMES if name != "char_rnn.onnx"]
    assert f"(it no longer matches checkpoint.pt): {', '.join(removed)}; to classify" in result.output
    assert (folder / "char_rnn.onnx").read_bytes() == b"someone else's graph"
    assert not any(os.path.lexists(folder / name) for name in removed)


def test_labels_in_scripts_the_plot_font_lacks_give_no_warnings(tmp_path):
    """Emoji and CJK labels printed one matplotlib 'Glyph ... missing from font' warning per glyph on stderr."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "😀Greek.txt").write_text("".join(f"Papa{c}{d}\n" for c in "abcdef" for d in "klmnop"), "utf-8")
    (folder / "漢字.txt").write_text("".join(f"Ivan{c}{d}ov\n" for c in "abcdef" for d in "klmnop"), "utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, ["train", "--data", str(folder), "--iterations", "2", "--hidden-size", "4",
                                           "--out", str(tmp_path / "m"), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [str(warning.message) for warning in caught if "Glyph" in str(warning.message)] == []
    assert json.loads((tmp_path / "m" / "training.json").read_text())["labels"] == ["漢字", "😀Greek"]


@pytest.mark.parametrize("field", ["clip_grad_norm", "spectral_bound"])
def test_zero_turns_a_clip_or_bound_off(field):
    """`--clip-grad-norm 0` was dropped as 'not given' and the recipe's 1.0 kept, silently."""
    assert getattr(recipe_config("default", **{field: 0}), field) is None
    assert getattr(recipe_config("default", **{field: 2.0}), field) == 2.0
    assert getattr(recipe_config("default", **{field: None}), field) == getattr(RECIPES["default"], field)


def test_spectral_bound_clamps_the_singular_values_of_w():
    from rnnexport.training.updates import bound_singular_values

    torch.manual_seed(0)
    weight = torch.randn(16, 16) * 0.6
    before = torch.linalg.svdvals(weight.double())
    bound_singular_values(weight, 1.5)
    after = torch.linalg.svdvals(weight.double())
    assert after.max() <= 1.5 * (1 + 2**-20) and before.max() > 1.5
    kept = before < 1.5  # singular values under the bound stay as they were
    assert torch.allclose(after[kept], before[kept], rtol=2**-18, atol=0)
