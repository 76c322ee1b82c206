"""THE model-folder lookup every command uses: --model-dir, else $RNNEXPORT_MODEL_DIR, else the default model
packaged with rnnexport (the repository's exported/ folder, shipped as ``rnnexport.default_model``)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import ArtifactError

MODEL_DIR_ENV = "RNNEXPORT_MODEL_DIR"
DEFAULT_MODEL_PACKAGE = "rnnexport.default_model"
MODEL_DIR_HELP = (  # --model-dir's help
    f"The exported model (artifacts plus manifest.json) [default: ${MODEL_DIR_ENV}, else the model packaged with "
    "rnnexport]."
)


def find_model_dir(explicit: str | Path | None = None) -> Path:
    """The folder of the exported model to load: ``explicit``, else $RNNEXPORT_MODEL_DIR (when set and not
    empty), else :func:`packaged_model_dir`. The working directory plays no part."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    return packaged_model_dir()


def packaged_model_dir() -> Path:
    """The default model's folder inside the installed package. Raises ArtifactError when it is absent."""
    try:
        path = Path(str(resources.files(DEFAULT_MODEL_PACKAGE)))  # a wheel installs it as plain files
    except ModuleNotFoundError:
        path = None
    if path is None or not (path / "manifest.json").is_file():
        raise ArtifactError(
            "no model given and this install has no packaged default model; pass --model-dir DIR or set "
            + MODEL_DIR_ENV
        )
    return path
