"""The torch.export runtimes: ``export`` (char_rnn.pt2 with torch.export's loader) and ``aoti`` (char_rnn_aoti.pt2,
the same loop compiled by AOTInductor, checked against this torch and CPU before it is loaded). torch is imported
only when one of them is opened."""

from __future__ import annotations

import json
import types
import warnings
import zipfile
from pathlib import Path

from ..errors import ArtifactError, RnnExportError, first_line
from ..model.aoti_target import AotiTarget, check_aoti_target
from ..model.manifest import (
    AOTI_FILE,
    ARCHIVE_METADATA_FILE,
    TORCH_EXPORT_FILE,
    TORCH_EXPORT_PROGRAMS,
    checked_artifact,
)
from .base import model_info
from .torch_runtimes import TorchModuleRuntime

PACKAGE_METADATA_SUFFIX = "wrapper_metadata.json"  # where an AOTInductor package keeps its metadata


def _cpu_only(device: str, name: str) -> None:
    if device != "cpu":
        raise RnnExportError(f"--runtime {name} runs on the CPU (its program was exported and compiled for it); "
                             "use --runtime torch --device cuda for the GPU")  # fmt: skip


class TorchExportRuntime(TorchModuleRuntime):
    """``char_rnn.pt2`` loaded with torch.export (the ``model`` program, what torch.export.load returns, and the
    prefix programs beside it for prefix-shared evaluation)."""

    name = "export"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        import torch
        from torch.export.pt2_archive._package import load_pt2

        _cpu_only(device, self.name)
        path = checked_artifact(model_dir, TORCH_EXPORT_FILE, verify_hash)
        self.device, self.parallel_calls = torch.device("cpu"), max(1, threads or 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch's internal pytree deprecations
                contents = load_pt2(str(path))
            self.programs = {name: contents.exported_programs[name] for name in TORCH_EXPORT_PROGRAMS}
            metadata = json.loads(contents.extra_files[ARCHIVE_METADATA_FILE])
        except Exception as error:  # zipfile, pickle, JSON and torch's deserialiser each raise their own types
            raise ArtifactError(f"{path} is not a loadable torch.export archive (corrupt or truncated?): "
                                f"{type(error).__name__}: {first_line(error)}") from None  # fmt: skip
        self.alphabet, self.labels = model_info(metadata, path, model_dir, verify_hash)
        self.module = self.programs["model"].module()

    def _open_prefix_engine(self):
        from .prefix_torch import TorchScriptPrefixEngine

        # The engine calls module.prefix_step / module.prefix_head, as on a scripted module.
        step, head = self.programs["prefix_step"].module(), self.programs["prefix_head"].module()
        hidden_size = int(head.get_parameter("model.v.weight").shape[1])
        return TorchScriptPrefixEngine(
            types.SimpleNamespace(prefix_step=step, prefix_head=head, hidden_size=hidden_size)
        )


def package_metadata(path: Path) -> dict[str, str]:
    """The metadata an AOTInductor package records (read from the zip: nothing is loaded); ArtifactError if bad."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(name for name in archive.namelist() if name.endswith(PACKAGE_METADATA_SUFFIX))
            metadata = json.loads(archive.read(name))
    except (zipfile.BadZipFile, StopIteration, KeyError, ValueError, OSError) as error:
        raise ArtifactError(f"{path} is not a loadable AOTInductor package (corrupt or truncated?): "
                            f"{type(error).__name__}: {first_line(error)}") from None  # fmt: skip
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path} has unusable package metadata; rebuild it with `rnnexport export --aoti`")
    return metadata


class AotiRuntime(TorchModuleRuntime):
    """``char_rnn_aoti.pt2``: the loop compiled by AOTInductor, refused (one line) when it was compiled for another
    torch version or a CPU this one is not. One call at a time (the package is loaded with one runner)."""

    name = "aoti"

    def __init__(self, model_dir: Path, verify_hash: bool = True, threads: int | None = None, device: str = "cpu"):
        import torch

        _cpu_only(device, self.name)
        if not (Path(model_dir) / AOTI_FILE).is_file():  # export writes it only when asked
            raise ArtifactError(f"{Path(model_dir) / AOTI_FILE} not found; build it on this machine with "
                                f"`rnnexport export --aoti --out {model_dir}` (make aoti)")  # fmt: skip
        path = checked_artifact(model_dir, AOTI_FILE, verify_hash)
        metadata = package_metadata(path)
        self.target = AotiTarget.from_metadata(metadata, str(path))
        check_aoti_target(self.target, str(path), torch.__version__)
        try:
            parsed = {**metadata, "labels": json.loads(metadata["labels"]), "fold": json.loads(metadata["fold"])}
        except (KeyError, ValueError):
            raise ArtifactError(f"{path} has unreadable labels/fold metadata; rebuild it") from None
        self.alphabet, self.labels = model_info(parsed, path, model_dir, verify_hash)
        self.device, self.parallel_calls = torch.device("cpu"), 1
        try:
            # LibTorch's loader itself (the class classify_names_aoti uses), not torch._inductor.aoti_load_package:
            # that imports Inductor first, which made opening the runtime take 5.4 s instead of 0.01 s here.
            loader = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)
        except Exception as error:  # the loader raises RuntimeError, or OSError from dlopen
            raise ArtifactError(f"{path} is not a loadable AOTInductor package: {first_line(error)}") from None
        self.module = lambda indices, lengths: loader.run([indices, lengths])[0]
