"""docs/model_card.md (training/model_card.py, `rnnexport model-card`, `make model-card`): the committed card is
what the committed model's reports give, byte for byte; the command writes a card in the form of Mitchell et al.
(2019) and refuses reports it cannot read, saying how to get them. Nothing here skips: a committed model whose
manifest.json has no prediction-set thresholds fails, naming the fix (re-export, then make model-card)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.training.model_card import CV_REPORT, read_reports, render_model_card
from tests.helpers import with_prediction_sets

REPO = Path(__file__).resolve().parent.parent
CARD = REPO / "docs" / "model_card.md"
MODEL = REPO / "exported"
SECTIONS = [
    "## Model details",
    "## Intended use",
    "### Uses it is not fit for",
    "## Factors",
    "## Metrics",
    "## Training and evaluation data",
    "## Quantitative analyses",
    "## Calibration and answers",
    "### Abstention (`--min-probability`)",
    "### Prediction sets (`--coverage`)",
    "## Known failure modes, ethical considerations and caveats",
    "## How these figures were produced",
]


def test_the_committed_card_is_what_the_committed_models_reports_give():
    """Retraining, re-exporting or cross-validating again without `make model-card` fails here."""
    expected = render_model_card(*read_reports(MODEL, REPO / CV_REPORT), "exported", str(CV_REPORT))
    assert CARD.read_text(encoding="utf-8") == expected, "docs/model_card.md is stale: run make model-card"


@pytest.fixture(scope="module")
def card_model(tmp_path_factory) -> Path:
    """The committed model with the thresholds export writes (the card needs them)."""
    return with_prediction_sets(MODEL, tmp_path_factory.mktemp("card") / "model")


def card(args: list[str]):
    return CliRunner().invoke(main, ["model-card", *args])


def test_the_command_writes_the_cards_sections_from_the_reports(card_model, tmp_path):
    out = tmp_path / "card.md"
    result = card(["--model-dir", str(card_model), "--cv-report", str(REPO / CV_REPORT), "-o", str(out)])
    assert result.exit_code == 0 and result.output == f"wrote {out}\n", result.output
    text = out.read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line.startswith("#") and line in SECTIONS] == SECTIONS
    assert "**Decisions about individuals**" in text and "Inferring anyone's ethnicity, nationality" in text
    cv = json.loads((REPO / CV_REPORT).read_text(encoding="utf-8"))
    row = cv["answers"]["shipped"]["sets"]["0.90"]["per_label"]
    assert f"| 0.90 | per-label (default) | {row['coverage']:.3f} |" in text
    assert f"| {row['mean_size']:.2f} |" in text
    for label, figures in cv["pooled"]["per_label"].items():
        assert f"| {label} | {figures['precision']:.3f} | {figures['recall']:.3f} | {figures['f1']:.3f} |" in text
    again = tmp_path / "again.md"
    assert card(["--model-dir", str(card_model), "--cv-report", str(REPO / CV_REPORT), "-o", str(again)]).exit_code == 0
    assert again.read_bytes() == out.read_bytes()  # no clock, no machine in it


def test_a_report_without_measured_answers_is_refused(card_model, tmp_path):
    old = json.loads((REPO / CV_REPORT).read_text(encoding="utf-8"))
    del old["answers"]
    report = tmp_path / "old.json"
    report.write_text(json.dumps(old), encoding="utf-8")
    result = card(["--model-dir", str(card_model), "--cv-report", str(report), "-o", str(tmp_path / "card.md")])
    assert result.exit_code == 1 and "holds no measured answers" in result.output and "--cv 10" in result.output
    assert not (tmp_path / "card.md").exists()


def test_a_manifest_without_thresholds_is_refused_naming_the_fix(card_model, tmp_path):
    model = Path(shutil.copytree(card_model, tmp_path / "model"))
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    del manifest["prediction_sets"]
    (model / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = card(["--model-dir", str(model), "--cv-report", str(REPO / CV_REPORT), "-o", str(tmp_path / "card.md")])
    assert result.exit_code == 1 and "has no prediction_sets" in result.output, result.output
    assert f"rnnexport export --out {model}" in result.output


def test_a_report_that_is_not_json_is_refused(card_model, tmp_path):
    report = tmp_path / "broken.json"
    report.write_text("{", encoding="utf-8")
    result = card(["--model-dir", str(card_model), "--cv-report", str(report), "-o", str(tmp_path / "card.md")])
    assert result.exit_code == 1 and "cannot be read as JSON" in result.output, result.output
