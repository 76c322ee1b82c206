"""rnnexport.verify: parity of every exported runtime with eager PyTorch; the report, never a file."""

import sys
from pathlib import Path

import numpy as np
import pytest

from rnnexport.errors import DataError, ParityError
from rnnexport.verification.parity import Tolerance, compare
from rnnexport.verification.verify import BATCH_SIZES, NAME_LENGTHS, generated_names, name_like_names, verify_artifacts
from tests.helpers import tamper_onnx_weight


def test_compare_reports_worst_names_and_agreement():
    reference = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]]))
    shifted = reference.copy()
    shifted[1] = np.log([0.1, 0.3, 0.6])  # top-1 flips for the second name
    report = compare(reference, shifted, ["Abe", "Bo"], labels=["x", "y", "z"])
    assert report["top1_agreement"] == 0.5 and report["top3_agreement"] == 0.5 and not report["passed"]
    assert report["worst_names"][0]["name"] == "Bo" and report["worst"]["name"] == "Bo"
    assert report["max_abs_diff"] == np.log(0.6) - np.log(0.3)


def test_generated_names_are_seeded():
    assert generated_names(20, seed=3) == generated_names(20, seed=3) != generated_names(20, seed=4)


def test_name_like_names_are_shaped_like_names():
    names = name_like_names(2000, seed=1)
    assert name_like_names(2000, seed=1) == names != name_like_names(2000, seed=2)
    assert {len(name) for name in names} == set(range(NAME_LENGTHS[0], NAME_LENGTHS[1] + 1))
    assert all(name[0].isupper() and name[1:].islower() and name.isalpha() for name in names)
    lowercase_only = name_like_names(200, alphabet="abc ")
    assert all(set(name) <= set("abc") for name in lowercase_only)


@pytest.mark.slow
def test_installed_verify_passes_on_the_packaged_model_without_the_data_set(committed_model_dir, tmp_path):
    """A user without the data set runs `rnnexport verify` on the model they installed: it must pass."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from rnnexport.data.fetch import DEFAULT_NAMES_DIR, NAMES_DIR_ENV

    env = {key: value for key, value in os.environ.items() if key != NAMES_DIR_ENV}
    command = [str(Path(sys.executable).with_name("rnnexport")), "verify", "--model-dir", str(committed_model_dir)]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / DEFAULT_NAMES_DIR).exists()  # so the data set is not found
    assert "generated: 5000 random capitalised names of 2-32 letters" in result.stdout


def folder_contents(folder: Path) -> dict[str, bytes | None]:
    """Every entry below ``folder``: a file's bytes, None for a folder (a model folder holds its generation)."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def test_verify_returns_a_report_and_writes_nothing(model_copy):
    before = folder_contents(model_copy)
    report = verify_artifacts(model_copy, ["Abe", "Nguyen", "Smith"], "given")
    assert report["passed"] and report["n_names"] == 3 and report["batch_sizes"] == list(BATCH_SIZES)
    prefix_shared = {"torch prefix-shared", "torchscript prefix-shared", "export prefix-shared", "onnx prefix-shared"}
    assert set(report["runtimes"]) == {"torch", "torchscript", "export", "onnx-cell", "onnx", *prefix_shared}
    assert all(set(report["runtimes"][name]["by_block_size"]) == {"1", "7", "8192"} for name in prefix_shared)
    assert "seconds" not in report
    assert folder_contents(model_copy) == before


def test_failure_carries_the_report(model_copy):
    tamper_onnx_weight(model_copy)
    with pytest.raises(ParityError) as raised:
        verify_artifacts(model_copy, ["Abe", "Nguyen"], "given", runtimes=("onnx",), verify_hash=False)
    assert raised.value.report["runtimes"]["onnx"]["passed"] is False
    assert raised.value.failures[0].startswith("onnx: worst ratio ")


def test_names_that_fold_to_nothing_are_refused(model_copy):
    with pytest.raises(DataError, match=r"every name \(given\) folds to nothing in this model's alphabet"):
        verify_artifacts(model_copy, ["123", "😀"], "given")


def test_the_rule_is_isclose_per_log_prob_with_top1():
    """|a - b| <= atol + rtol·|b|: at b = -10 the bound is 2e-5, at b = -0.1 it is 1.01e-5 (atol 1e-5, rtol 1e-6)."""
    reference = np.array([[-0.1, -10.0, -2.4]])
    assert Tolerance().bound(reference)[0].tolist() == pytest.approx([1.01e-5, 2e-5, 1.24e-5])
    within = reference + np.array([[0.5e-5, -1.9e-5, 1.0e-5]])
    report = compare(reference, within, ["Abe"])
    assert report["passed"] and report["worst_ratio"] == pytest.approx(1.9e-5 / 2e-5)
    assert report["by_band"]["-6 to -10"] == {"values": 1, "beyond": 0, "max_abs_diff": pytest.approx(1.9e-5),
                                              "worst_ratio": pytest.approx(0.95)}  # fmt: skip
    beyond = reference + np.array([[1.02e-5, 0.0, 0.0]])  # 1.02e-5 > 1.01e-5 on the likely label
    report = compare(reference, beyond, ["Abe"], labels=["x", "y", "z"])
    assert not report["passed"] and report["by_band"]["0 to -1"]["beyond"] == 1
    assert report["worst"] == {"name": "Abe", "label": "x", "reference_log_prob": -0.1,
                               "log_prob": pytest.approx(-0.1 + 1.02e-5), "abs_diff": pytest.approx(1.02e-5),
                               "ratio": pytest.approx(1.02e-5 / 1.01e-5)}  # fmt: skip
    assert report["min_atol_to_pass"] == pytest.approx(1.02e-5 - 1e-7)
    assert compare(reference, beyond, ["Abe"], Tolerance(atol=1.1e-5))["passed"]


def test_a_flipped_top1_fails_within_the_bound_and_nan_fails_always():
    reference = np.array([[-0.693147, -0.693148]])
    flipped = np.array([[-0.693148, -0.693147]])  # 1e-6 apart: within the bound, but the top-1 differs
    report = compare(reference, flipped, ["Tie"])
    assert report["worst_ratio"] < 1 and report["top1_disagreements"] == 1 and not report["passed"]
    report = compare(reference, np.array([[np.nan, -0.69]]), ["Nan"])
    assert not report["passed"] and report["not_finite"] == 1


def test_rows_without_a_reference_are_skipped():
    reference = np.array([[-0.1, -2.4], [np.nan, np.nan]])
    report = compare(reference, np.array([[-0.1, -2.4], [np.nan, np.nan]]), ["Abe", ""])
    assert report["passed"] and report["names"] == 1


@pytest.mark.slow
def test_the_committed_model_meets_the_rule_on_capitalised_strings_up_to_32_letters(committed_model_dir):
    """The promise of docs/model.md ('Parity'): beyond the data set's names (1-19 letters), random capitalised
    strings of 2-32 letters pass on every runtime and prefix path, at every batch size."""
    names = name_like_names(3000, seed=11)
    assert {len(name) for name in names} == set(range(2, 33))
    report = verify_artifacts(committed_model_dir, names, "generated")
    assert report["passed"], report["runtimes"]
    assert all(entry["worst_ratio"] <= 1 for entry in report["runtimes"].values())


def test_verify_reports_each_step_of_its_progress(model_copy):
    # issue 23: `verify` and export's verification were silent for minutes; each step is reported for the bar.
    steps = []
    verify_artifacts(model_copy, ["Smith", "Tanaka"], on_step=lambda *step: steps.append(step))
    total = steps[0][1]
    assert [done for done, _, _ in steps] == list(range(1, total + 1))
    assert {step_total for _, step_total, _ in steps} == {total}
    assert total == 1 + 9 * len(BATCH_SIZES) + 1  # the reference, 5 runtimes and 4 prefix-shared, hidden states
    assert steps[0][2] == "eager float64 on 2 names" and steps[-1][2] == "onnx-cell hidden states"


@pytest.mark.parametrize("where", ["terminal", "pipe"])
def test_verify_shows_progress_on_a_terminal_only(model_copy, tmp_path, where):
    import subprocess

    from tests.helpers import run_in_terminal

    names = tmp_path / "names.csv"
    names.write_text("name\nSmith\nTanaka\n")
    command = [str(Path(sys.executable).parent / "rnnexport"), "verify", "--model-dir", str(model_copy), "--names",
               str(names)]  # fmt: skip
    if where == "terminal":
        status, stdout, stderr = run_in_terminal(command)
    else:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        status, stdout, stderr = result.returncode, result.stdout, result.stderr
    assert status == 0 and stdout.startswith(f"verified {model_copy}/ on 2 names")
    if where == "terminal":
        assert "verifying: 100%" in stderr and "29/29" in stderr
    else:
        assert stderr == ""  # no bar, no \r updates in a log
