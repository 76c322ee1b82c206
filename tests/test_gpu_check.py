"""scripts/gpu_check.py and its shell wrapper, exercised on the CPU with tiny sizes (no GPU here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnexport.data.labelled import read_pairs
from tests.conftest import write_tiny_names

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.py"
WRAPPER = REPO / "scripts" / "gpu_check.sh"


def run_check(args: list[str], cwd: Path, wrapper: bool = False) -> subprocess.CompletedProcess:
    command = ["bash", str(WRAPPER), *args] if wrapper else [sys.executable, str(SCRIPT), *args]
    environment = {**os.environ, "GPU_CHECK_PYTHON": sys.executable}
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def test_cpu_dry_run_reports_parity_and_throughput(tiny_model_dir, tmp_path):
    names_dir = write_tiny_names(tmp_path / "names")
    out = tmp_path / "report.json"
    args = ["--device", "cpu", "--names", "2000", "--model-dir", str(tiny_model_dir), "--names-dir", str(names_dir)]
    result = run_check([*args, "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["passed"] and report["environment"]["device"] == "cpu"
    distinct = len({pair.name for pair in read_pairs(names_dir)})  # the given folder's names, not the real set's
    assert report["parity_names"] == f"data set ({distinct} distinct names)"
    assert [entry["runtime"] for entry in report["parity"]] == ["torch", "torchscript", "onnx"]
    assert all(entry["status"] == "pass" and entry["worst_ratio"] <= 1 for entry in report["parity"])
    assert all(entry["names"] == 2000 and entry["names_per_second"] > 0 for entry in report["throughput"])
    assert "names/s" in result.stdout and "parity, cpu vs float64 on the CPU" in result.stdout


def test_generated_names_when_the_data_set_is_missing(tiny_model_dir, tmp_path):
    out = tmp_path / "report.json"
    args = ["--device", "cpu", "--names", "300", "--model-dir", str(tiny_model_dir), "--out", str(out)]
    result = run_check([*args, "--names-dir", str(tmp_path / "absent")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: no names data set" in result.stderr
    assert json.loads(out.read_text())["parity_names"].startswith("generated")


def test_shell_wrapper_runs_the_check_with_a_given_python(tiny_model_dir, tmp_path):
    names_dir = write_tiny_names(tmp_path / "names")
    out = tmp_path / "report.json"
    args = ["--device", "cpu", "--names", "200", "--model-dir", str(tiny_model_dir), "--names-dir", str(names_dir)]
    result = run_check([*args, "--out", str(out)], tmp_path, wrapper=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["passed"]


def test_cuda_without_a_gpu_is_a_clear_error(tiny_model_dir, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "report.json"
    result = run_check(["--device", "cuda", "--model-dir", str(tiny_model_dir), "--out", str(out)], tmp_path)
    assert result.returncode != 0
    assert "--device cuda" in result.stderr and "sees no CUDA device" in result.stderr
    assert not out.exists()
