"""The model on the Dask workers: its files carried by a worker plugin (restarted workers too) into each worker's
folder, one runtime per worker process opened on first use and kept, forgotten when the run ends."""

from __future__ import annotations

import contextlib
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from distributed import Client, WorkerPlugin, get_worker

from ..io.atomic import atomic_write_bytes
from ..runtimes.base import Runtime
from ..runtimes.registry import TORCH_RUNTIMES, open_runtime
from ..runtimes.torch_runtimes import use_one_intra_op_thread

PLUGIN_PREFIX = "rnnexport-model-"


@dataclass(frozen=True)
class ModelRef:
    """What a task needs to find its worker's runtime: a few strings, never the model or its session."""

    runtime: str
    plugin_name: str
    verify_hash: bool
    local_dir: str | None = None  # in-process schedulers load straight from the driver's model folder


class ModelPlugin(WorkerPlugin):
    """Carries the artifact's bytes to every worker (restarted ones too) and writes them to its local folder."""

    def __init__(self, files: dict[str, bytes], name: str):
        self.files = files
        self.name = name

    def setup(self, worker) -> None:
        self.folder(worker)

    def folder(self, worker) -> Path:
        """The worker-local model folder, written on first use (idempotent; each file appears whole)."""
        folder = Path(worker.local_directory) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, data in self.files.items():
            target = folder / file_name
            if not target.is_file() or target.stat().st_size != len(data):
                atomic_write_bytes(target, data)
        return folder

    def teardown(self, worker) -> None:
        folder = Path(worker.local_directory) / self.name
        forget_runtimes(self.name)
        shutil.rmtree(folder, ignore_errors=True)


# plugin name -> (model folder, runtime). The name is unique per run and carries the artifact's digest.
_RUNTIMES: dict[str, tuple[Path, Runtime]] = {}
_CACHE_LOCK = threading.Lock()


def model_folder(ref: ModelRef) -> Path:
    """Where this process loads the model from: its worker's plugin folder, or the driver's model folder."""
    if ref.local_dir is not None:
        return Path(ref.local_dir)
    worker = get_worker()
    plugin = worker.plugins.get(ref.plugin_name)
    if plugin is None:
        raise RuntimeError(f"worker {worker.address} lacks the {ref.plugin_name} plugin that carries the model")
    return plugin.folder(worker)


def worker_runtime(ref: ModelRef) -> Runtime:
    """This process's runtime for ``ref``, created on first use and kept (one session per worker process)."""
    with _CACHE_LOCK:  # held while loading, so that concurrent first tasks load the model once
        if ref.plugin_name not in _RUNTIMES:
            folder = model_folder(ref)
            # One thread per session: the cluster's parallelism comes from worker processes (or scheduler threads).
            if ref.runtime in TORCH_RUNTIMES:
                use_one_intra_op_thread()
            _RUNTIMES[ref.plugin_name] = folder, open_runtime(ref.runtime, folder, ref.verify_hash, threads=1)
        return _RUNTIMES[ref.plugin_name][1]


def forget_runtimes(plugin_name: str) -> None:
    """Drop this process's runtime of one run (in-process schedulers share the driver's cache)."""
    with _CACHE_LOCK:
        _RUNTIMES.pop(plugin_name, None)


def release_model(client: Client | None, plugin_name: str) -> None:
    """Forget this run's runtimes: in this process, or on the workers (which also delete the model files)."""
    if client is None:
        forget_runtimes(plugin_name)
        return
    with contextlib.suppress(Exception):  # best effort: the cluster may be shutting down
        client.unregister_worker_plugin(plugin_name)
