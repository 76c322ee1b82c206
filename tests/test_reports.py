"""rnnexport.reports: training.json and two PNG plots, and nothing process-wide (no pyplot backend choice)."""

import json
import os
import subprocess
import sys

from rnnexport.training.reports import REPORT_FILES, plot_confusion_matrix, plot_loss_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_training_outputs_hold_the_report_and_plots(tiny_model_dir):
    report = json.loads((tiny_model_dir / "training.json").read_text())
    assert report["labels"][0] == "Arabic" and len(report["labels"]) == 18
    assert report["held_out_accuracy"] == report["metrics"]["accuracy"]
    assert set(report["per_label_recall"]) == set(report["labels"])
    for name in REPORT_FILES[1:]:
        assert (tiny_model_dir / name).read_bytes().startswith(PNG_SIGNATURE)


def test_plots_are_pngs(tmp_path):
    plot_loss_curve([(1, 2.5), (2, 2.0), (3, 1.2)], tmp_path / "loss.png")
    plot_confusion_matrix([[3, 1], [0, 2]], ["Arabic", "Czech"], tmp_path / "confusion.png")
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in tmp_path.iterdir())


def test_import_leaves_matplotlib_backend_alone():
    """A user's backend choice survives importing (and plotting with) rnnexport.reports."""
    code = "import rnnexport.training.reports, matplotlib; print(matplotlib.get_backend())"
    env = {**os.environ, "MPLBACKEND": "svg"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svg"
