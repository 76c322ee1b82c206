"""classify and predict with --min-probability, --coverage and --set-method (answers/): the columns each format gets,
the decisions held to the parity rule against float64 on every name of the data set, both engines, the manifest's
thresholds as export writes them, bad options and models without thresholds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from rnnexport.answers.conformal import LEVELS
from rnnexport.cli.app import main
from rnnexport.verification.verify import dataset_names
from tests.helpers import (
    answer_rule_of,
    assert_decisions_within_rule,
    assert_printed_probabilities,
    reference_rows,
    with_prediction_sets,
)

SPECIAL = ["😀", "", "12345", "   ", "Dvořák", "NGUYỄN"]
ANSWER_FLAGS = ["--min-probability", "0.5", "--coverage", "0.9", "--top-k", "2"]


@pytest.fixture(scope="module")
def answers_model(committed_model_dir, tmp_path_factory) -> Path:
    """The committed model, with the prediction-set thresholds export writes (tests.helpers.with_prediction_sets)."""
    return with_prediction_sets(committed_model_dir, tmp_path_factory.mktemp("answers") / "model")


@pytest.fixture(scope="module")
def every_name(real_names_dir) -> list[str]:
    names, _ = dataset_names(real_names_dir)
    return names + SPECIAL


def classify(args, input_text=None):
    return CliRunner().invoke(main, ["classify", *args], input=input_text)


def write_names(path: Path, names: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name"])
        writer.writerows([i, name] for i, name in enumerate(names))
    return path


def test_every_data_set_name_is_decided_as_float64_decides_it(answers_model, every_name, tmp_path):
    """Abstention and set membership on every name of the data set, through the CLI: equal to the decisions on the
    float64 reference but where the reference lies within the parity rule's bound of a threshold; the language
    left empty exactly when abstaining; the set's size its labels' count; the probabilities printed within the rule."""
    source = write_names(tmp_path / "names.csv", every_name)
    result = classify([str(source), "--model-dir", str(answers_model), *ANSWER_FLAGS, "--quiet"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["id", "name", "language", "probability", "language_2", "probability_2", "prediction_set",
                             "set_size", "status"]  # fmt: skip
    labels, reference = reference_rows(answers_model, every_name)
    rule = answer_rule_of(answers_model, labels, 0.5, 0.9)
    sets = [row["prediction_set"].split("|") if row["prediction_set"] else [] for row in rows]
    report = assert_decisions_within_rule(reference, [row["status"] for row in rows], sets, rule, labels, "classify")
    assert report["status_differences"] <= 2 and report["set_differences"] <= 5  # float32 rarely lands that close
    for row, members, expected in zip(rows, sets, reference, strict=True):
        assert (row["language"] == "") == (row["status"] != "ok"), row
        assert row["set_size"] == ("" if expected is None else str(len(members))), row
        assert members == sorted(members, key=labels.index), row  # in the model's label order
    printed = [
        (float(r["probability"]), e[int(np.argmax(e))]) for r, e in zip(rows, reference, strict=True) if e is not None
    ]
    assert_printed_probabilities(np.array([p for p, _ in printed]), np.array([b for _, b in printed]), 6, "classify")
    statuses = [row["status"] for row in rows]
    assert statuses.count("no_letter") == 4 and statuses.count("below_min_probability") > 100


def test_parquet_output_holds_the_same_answers_typed(answers_model, tmp_path):
    source = write_names(tmp_path / "names.csv", ["Smith", "Dvořák", "😀", "Kelly", "Tanaka"])
    flags = ["--model-dir", str(answers_model), *ANSWER_FLAGS, "--quiet"]
    assert classify([str(source), "-o", str(tmp_path / "out.csv"), *flags]).exit_code == 0
    assert classify([str(source), "-o", str(tmp_path / "out.parquet"), *flags]).exit_code == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert [str(field.type) for field in table.schema][-3:] == ["string", "int32", "string"]
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    for row, record in zip(rows, table.to_pylist(), strict=True):
        assert (record["language"] or "") == row["language"] and record["status"] == row["status"]
        assert (record["prediction_set"] or "") == row["prediction_set"]
        assert ("" if record["set_size"] is None else str(record["set_size"])) == row["set_size"]
    assert table.column("language")[2].as_py() is None and table.column("status")[2].as_py() == "no_letter"


def test_parquet_input_and_the_dask_engine_give_the_local_engines_answers(answers_model, tmp_path):
    names = ["Smith", "Dvořák", "😀", "Kelly", "Tanaka", "Rossi", "O'Brien"] * 30
    source = write_names(tmp_path / "names.csv", names)
    flags = ["--model-dir", str(answers_model), "--min-probability", "0.6", "--coverage", "0.8", "--quiet"]
    assert classify([str(source), "-o", str(tmp_path / "local.csv"), *flags]).exit_code == 0
    dask = ["--engine", "dask", "--scheduler", "threads", "--blocksize", "1KB", "--chunk-rows", "20"]
    result = classify([str(source), "-o", str(tmp_path / "dask.csv"), *flags, *dask])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert classify([str(source), "-o", str(tmp_path / "in.parquet"), "--model-dir", str(answers_model)]).exit_code == 0
    parquet_in = tmp_path / "names.parquet"
    pq.write_table(pq.read_table(tmp_path / "in.parquet").select(["id", "name"]), parquet_in)
    assert classify([str(parquet_in), "-o", str(tmp_path / "from-parquet.csv"), *flags]).exit_code == 0
    local = list(csv.DictReader((tmp_path / "local.csv").open(encoding="utf-8")))
    from_parquet = list(csv.DictReader((tmp_path / "from-parquet.csv").open(encoding="utf-8")))
    assert [(r["status"], r["prediction_set"]) for r in from_parquet] == [
        (r["status"], r["prediction_set"]) for r in local
    ]


def test_status_alone_with_min_probability_and_a_delimiter_in_the_set(answers_model, tmp_path):
    source = tmp_path / "pipes.csv"
    source.write_text("id|name\n1|Smith\n2|😀\n", encoding="utf-8")
    result = classify([str(source), "--model-dir", str(answers_model), "--coverage", "0.9", "--quiet"])
    assert result.exit_code == 0, result.output
    header, smith, emoji = result.output.splitlines()
    assert header == "id|name|language|probability|prediction_set|set_size|status"
    assert smith.split("|")[2] == "English" and '"' in smith  # the set holds the delimiter: quoted, as csv writes it
    assert next(csv.reader([smith], delimiter="|"))[4].count("|") >= 1
    assert emoji == "2|😀|||||no_letter"
    result = classify([str(source), "--model-dir", str(answers_model), "--min-probability", "0.99", "--quiet"])
    assert result.output.splitlines()[1:] == [
        f"1|Smith||{smith.split('|')[3]}|below_min_probability",
        "2|😀|||no_letter",
    ]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--min-probability", "0"], "0<x<=1"),
        (["--min-probability", "nan"], "not a finite number"),
        (["--coverage", "0.955"], "not a stored level"),
        (["--coverage", "1.0"], "0.5<=x<=0.99"),
        (["--set-method", "marginal"], "give --coverage too"),
        (["--coverage", "0.9", "--set-method", "mondrian"], "'per-label', 'marginal'"),
    ],
)
def test_bad_answer_options_are_usage_errors(answers_model, tmp_path, flags, message):
    source = write_names(tmp_path / "names.csv", ["Smith"])
    result = classify([str(source), "--model-dir", str(answers_model), *flags])
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_model_without_thresholds_says_how_to_get_them(tiny_model_dir, tmp_path):
    """The sgd recipe holds nothing back, so its export has no prediction_sets: --coverage is refused, naming the
    fix; --min-probability needs no thresholds."""
    assert "prediction_sets" not in json.loads((tiny_model_dir / "manifest.json").read_text())
    source = write_names(tmp_path / "names.csv", ["Abaa"])
    result = classify([str(source), "--model-dir", str(tiny_model_dir), "--coverage", "0.9"])
    assert result.exit_code == 2 and "re-export it" in result.output and "--calibration-holdback" in result.output
    result = classify([str(source), "--model-dir", str(tiny_model_dir), "--min-probability", "0.01", "--quiet"])
    assert result.exit_code == 0 and result.output.splitlines()[0].endswith(",status")


def test_an_input_with_a_status_column_is_refused(answers_model, tmp_path):
    source = tmp_path / "status.csv"
    source.write_text("name,status\nSmith,x\n", encoding="utf-8")
    result = classify([str(source), "--model-dir", str(answers_model), "--min-probability", "0.5"])
    assert result.exit_code == 1 and "already has column(s) status" in result.output
    assert classify([str(source), "--model-dir", str(answers_model), "--quiet"]).exit_code == 0  # no clash without


def test_predict_says_what_it_decided(answers_model):
    args = ["predict", "Smith", "O'Brien", "😀", "--model-dir", str(answers_model), "--min-probability", "0.5",
            "--coverage", "0.9", "--set-method", "marginal"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    smith, obrien, emoji = result.output.splitlines()
    assert "no answer (top probability below 0.5)" in smith and "set at 0.90 (marginal): " in smith
    assert obrien.endswith("set at 0.90 (marginal): Irish") and "no answer" not in obrien
    assert emoji == "😀: no prediction (no letter of the alphabet)"


def test_export_writes_the_thresholds_of_the_operating_point(three_label_model_dir):
    """`rnnexport export` of a default-recipe model: every level, both methods, from its held-back pairs."""
    table = json.loads((three_label_model_dir / "manifest.json").read_text())["prediction_sets"]
    assert table["default_method"] == "per_label" and table["calibration"]["scored_by"] == "sibling"
    assert [float(key) for key in table["levels"]] == list(LEVELS)
    assert all(len(entry["per_label"]) == 3 for entry in table["levels"].values())
    held_back = json.loads((three_label_model_dir / "training.json").read_text())["operating_point"]
    assert table["calibration"]["names"] == held_back["n_calibration"]
    marginal = [entry["marginal"] for entry in table["levels"].values() if entry["marginal"] is not None]
    assert marginal == sorted(marginal, reverse=True)  # a higher level, a lower threshold: larger sets


def test_evaluate_prints_the_answers_of_a_checkpoint(answers_model, real_names_dir):
    result = CliRunner().invoke(main, ["evaluate", "--model-dir", str(answers_model), "--data", str(real_names_dir)])
    assert result.exit_code == 0, result.output
    assert "answering 80% (top probability >= " in result.output
    assert "sets at 0.90 (per_label): coverage " in result.output
