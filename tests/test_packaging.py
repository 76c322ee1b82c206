"""The default model travels with the package: built wheel and sdist hold exported/ as rnnexport.default_model,
and an installed wheel classifies from any folder without --model-dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import COMMITTED_MODEL_DIR, REPO

pytestmark = pytest.mark.slow  # builds a wheel and an sdist, installs into a virtualenv (~30 s)

MODEL_FILES = ("char_rnn.pt", "char_rnn.pt2", "char_rnn.onnx", "char_rnn_cell.onnx", "checkpoint.pt", "fold_table.json",
               "manifest.json")  # fmt: skip


def _run(command: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600, check=False)  # fmt: skip
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """A wheel and an sdist of this checkout (offline: no build isolation, so the venv's setuptools builds)."""
    if not (COMMITTED_MODEL_DIR / "manifest.json").is_file():
        pytest.skip("exported/ holds no exported model (run `make export`)")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, REPO],
         REPO)  # fmt: skip
    sdist = "from setuptools import build_meta; import sys; print(build_meta.build_sdist(sys.argv[1]))"
    _run([sys.executable, "-c", sdist, out], REPO)
    return {"wheel": next(out.glob("rnnexport-*.whl")), "sdist": next(out.glob("rnnexport-*.tar.gz"))}


def test_the_wheel_and_the_sdist_hold_the_committed_model(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        for file_name in MODEL_FILES:
            path = f"rnnexport/default_model/{file_name}"
            assert path in names, path
            assert wheel.read(path) == (COMMITTED_MODEL_DIR / file_name).read_bytes(), path
    subpackages = {p.parent.name for p in (REPO / "rnnexport").glob("*/__init__.py")}
    assert {n.split("/")[1] for n in names if n.count("/") == 2 and n.endswith("/__init__.py")} >= subpackages
    with tarfile.open(built["sdist"]) as sdist:
        members = {Path(*Path(m).parts[1:]).as_posix() for m in sdist.getnames()}
    assert {f"exported/{file_name}" for file_name in MODEL_FILES} <= members


def test_an_installed_wheel_predicts_and_classifies_from_any_folder(built, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    # The dependencies (the pinned CPU torch among them) come from this test's environment, after the wheel.
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path).stdout.strip())  # fmt: skip
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index",
          built["wheel"]], tmp_path)  # fmt: skip
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RNNEXPORT_", "PYTHON"))}
    where = _run([venv / "bin" / "python", "-c", "import rnnexport; print(rnnexport.__file__)"], work, env).stdout
    assert where.startswith(str(venv)), where
    rnnexport = venv / "bin" / "rnnexport"
    predicted = _run([rnnexport, "predict", "Smith", "Łukasz"], work, env).stdout.splitlines()
    assert predicted[0].startswith("Smith: ") and predicted[1].startswith("Łukasz -> Lukasz: ")
    (work / "names.csv").write_text("id,name\n1,Smith\n2,Dvořák\n3,😀\n", encoding="utf-8")
    _run([rnnexport, "classify", "names.csv", "-o", "out.csv", "--top-k", "2"], work, env)
    lines = (work / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,name,language,probability,language_2,probability_2"
    assert lines[1].startswith("1,Smith,") and lines[3] == "3,😀,,,,"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["install", "consumer-envs"])
def test_every_quiet_install_step_says_first_what_it_does(target):
    # issue 23: `make train export` printed nothing for minutes while pip ran --quiet. A dry run (-n, every
    # target rebuilt: -B) lists the recipes: each quiet pip install follows a line that says what it installs.
    result = subprocess.run(["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    installs = [i for i, line in enumerate(lines) if " install --quiet " in line]
    assert installs
    for before, i in zip([-1, *installs], installs, strict=False):
        said = [line for line in lines[before + 1 : i] if line.startswith("echo ")]
        assert said and "install" in said[-1], lines[i]
