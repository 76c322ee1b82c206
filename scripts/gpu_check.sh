#!/usr/bin/env bash
# GPU check: set up a Python with CUDA torch, onnxruntime-gpu and this project, then run scripts/gpu_check.py.
#
# Usage (from anywhere; options go to gpu_check.py):
#   scripts/gpu_check.sh --names 10000000 --out gpu_check.json
#   scripts/gpu_check.sh --device cpu --names 2000        # dry run without a GPU
# Environment:
#   GPU_CHECK_PYTHON   use this interpreter (it must already have torch); default: the venv below
#   GPU_CHECK_VENV     venv to create or reuse when GPU_CHECK_PYTHON is unset (default .venv-gpu)
#   GPU_CHECK_INSTALL  1 installs torch, onnxruntime-gpu and the project; 0 skips that
#                      (default 1 for the venv, 0 for GPU_CHECK_PYTHON)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${GPU_CHECK_PYTHON:-}" ]]; then
    python="$GPU_CHECK_PYTHON"
    install="${GPU_CHECK_INSTALL:-0}"
else
    venv="${GPU_CHECK_VENV:-.venv-gpu}"
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv"
    fi
    python="$venv/bin/python"
    install="${GPU_CHECK_INSTALL:-1}"
fi

if [[ "$install" == "1" ]]; then
    "$python" -m pip install --upgrade pip
    # PyPI's default torch wheel for Linux x86_64 is the CUDA build.
    "$python" -m pip install "torch==2.13.0"
    "$python" -m pip install -e .
    # The project depends on the CPU onnxruntime; onnxruntime-gpu ships the same module, so it must replace it
    # (the forced reinstall restores files the uninstall removed when both were present).
    "$python" -m pip uninstall -y onnxruntime
    "$python" -m pip install "onnxruntime-gpu[cuda,cudnn]"
    "$python" -m pip install --force-reinstall --no-deps onnxruntime-gpu
fi

if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi

exec "$python" scripts/gpu_check.py "$@"
