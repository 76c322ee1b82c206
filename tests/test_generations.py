"""A model folder's files are replaced as one set (rnnexport.io.generations): interrupted at every step of the swap
(SIGKILL, or a failing file-system call), the folder shows the complete old model or the complete new one to a
loader that checks every hash, and the next run leaves nothing behind.

The interruptions do not rely on the swap's own code: every call that changes an entry of the model folder
(os.rename, os.replace, os.symlink, os.link, os.unlink, os.mkdir, os.rmdir, shutil.rmtree) is counted once the
new files are staged, and at the k-th the process forks: the child dies at that call (SIGKILL) or sees it fail
(EIO), the parent checks what a loader sees, puts the folder back as it was, and tries k + 1, until a child
finishes; then the parent finishes the swap itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.model.manifest import checked_artifact, read_manifest, sha256_of
from tests.conftest import write_tiny_names

CHANGES = {"rename": (0, 1), "replace": (0, 1), "symlink": (1,), "link": (1,), "unlink": (0,), "remove": (0,),
           "mkdir": (0,), "rmdir": (0,)}  # fmt: skip


def visible(folder: Path) -> dict[str, str]:
    """What a reader of the folder sees: each name that opens as a file (links followed), with its SHA-256."""
    return {path.name: sha256_of(path) for path in sorted(folder.iterdir())
            if not path.name.startswith(".") and path.is_file()}  # fmt: skip


def loader_sees(folder: Path) -> dict[str, str]:
    """A loader's view: when manifest.json is there, every file it lists exists and has its hash; the view."""
    if (folder / "manifest.json").exists():
        for name in read_manifest(folder)["artifacts"]:
            checked_artifact(folder, name)  # ArtifactError on a missing or mismatched file
    return visible(folder)


def leftovers(folder: Path) -> list[str]:
    """Hidden entries beyond the set's pointer and its one generation."""
    hidden = sorted(path.name for path in folder.iterdir() if path.name.startswith("."))
    expected = [".rnnexport", os.readlink(folder / ".rnnexport")] if (folder / ".rnnexport").is_symlink() else []
    return [name for name in hidden if name not in expected]


def replace_contents(folder: Path, snapshot: Path) -> None:
    """``folder`` (the same folder: its descriptor may be locked) holds exactly ``snapshot``'s entries again."""
    for path in list(folder.iterdir()):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    for path in snapshot.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, folder / path.name, symlinks=True)
        else:
            shutil.copy2(path, folder / path.name, follow_symlinks=False)


class EveryStep:
    """Counts the calls that change an entry of ``folder`` once ``armed()`` says the new files are staged; at the
    first, forks a child per step as this module's docstring says. ``states``: what the loader saw after each
    child, with how it ended."""

    def __init__(self, folder: Path, armed, kill: bool, scratch: Path, monkeypatch, keep: bool = False):
        self.folder, self.armed, self.kill, self.scratch, self.keep = folder, armed, kill, scratch, keep
        self.states: list[tuple[int, dict[str, str]]] = []
        self.left: list[Path] = []
        self.child_countdown: int | None = None
        self.done = False
        originals = {name: getattr(os, name) for name in CHANGES}
        for name, positions in CHANGES.items():
            monkeypatch.setattr(os, name, self._wrapped(originals[name], positions))
        rmtree = shutil.rmtree
        monkeypatch.setattr(shutil, "rmtree", self._wrapped(rmtree, (0,)))

    def _wrapped(self, function, positions):
        def call(*args, **kwargs):
            paths = [Path(os.fsdecode(args[i])) for i in positions if i < len(args) and not kwargs.get("dir_fd")]
            if any(path.parent == self.folder for path in paths if path.is_absolute()):
                self._step()
            return function(*args, **kwargs)

        return call

    def _step(self) -> None:
        if self.child_countdown is not None:  # in a child: die, or fail, at its step
            self.child_countdown -= 1
            if self.child_countdown == 0:
                if self.kill:
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(errno.EIO, "injected failure")
            return
        if self.done or not self.armed():
            return
        self.done = True
        snapshot = self.scratch / "snapshot"
        shutil.copytree(self.folder, snapshot, symlinks=True)
        for step in range(1, 200):
            pid = os.fork()
            if pid == 0:
                self.child_countdown = step
                return self._step()  # this call is the child's first
            _, status = os.waitpid(pid, 0)
            self.states.append((status, loader_sees(self.folder)))
            if self.keep:  # what the child left, for a later run to recover from
                shutil.copytree(self.folder, self.scratch / f"left-{step}", symlinks=True)
                self.left.append(self.scratch / f"left-{step}")
            finished = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            replace_contents(self.folder, snapshot)
            if finished:
                return
        raise AssertionError("the swap never finished")

    @contextlib.contextmanager
    def child_exits(self):
        """Around the call that swaps: a child leaves the process here (0: it finished, 1: it failed)."""
        try:
            yield
        except BaseException:
            if self.child_countdown is not None:
                os._exit(1)
            raise
        if self.child_countdown is not None:
            os._exit(0)


def staged(folder: Path, tag: str, last: str):
    """True once ``last`` is written in a staging folder of ``tag`` (the new files are all staged)."""
    return lambda: any((path / last).exists() for path in folder.glob(f".{tag}.*.partial"))


@pytest.fixture(scope="module")
def second_checkpoint(tmp_path_factory) -> Path:
    """Another checkpoint of the tiny model's shape (another seed): every artifact of its export differs."""
    from rnnexport.data.fetch import EXPECTED_LABELS
    from rnnexport.data.labelled import read_pairs
    from rnnexport.data.split import split_pairs
    from rnnexport.training.loop import train
    from rnnexport.training.recipes import recipe_config
    from rnnexport.training.reports import write_training_outputs

    root = tmp_path_factory.mktemp("second")
    split = split_pairs(read_pairs(write_tiny_names(root / "names", seed=3)))
    result = train(split, list(EXPECTED_LABELS), recipe_config("sgd-2024", iterations=20, batch_size=16, seed=7))
    write_training_outputs(result, list(EXPECTED_LABELS), root / "model")
    return root / "model" / "checkpoint.pt"


def model_folder(tiny_model_dir: Path, tmp_path: Path, layout: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder, symlinks=layout == "set of links")
    if layout == "plain files":  # an earlier version's export: no pointer, no generation
        for path in folder.iterdir():
            if path.name.startswith(".rnnexport"):
                shutil.rmtree(path)
        assert not any(path.is_symlink() for path in folder.iterdir())
    (folder / "notes.txt").write_text("mine\n")
    return folder


def check_every_state(run: EveryStep, before: dict[str, str], after: dict[str, str]) -> None:
    assert before != after and len(run.states) >= 3
    for status, seen in run.states:
        assert seen in (before, after), f"a child ended by {status} left a mixed model: {sorted(seen)}"
    assert {json.dumps(seen, sort_keys=True) for _, seen in run.states} == {
        json.dumps(before, sort_keys=True),
        json.dumps(after, sort_keys=True),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kill", [True, False], ids=["SIGKILL", "failing call"])
@pytest.mark.parametrize("layout", ["set of links", "plain files"])
def test_an_export_interrupted_at_every_step_leaves_the_old_model_or_the_new(
    tiny_model_dir, second_checkpoint, tmp_path, monkeypatch, kill, layout
):
    """A SIGTERM between the renames of export's final swap left the new char_rnn.onnx beside the old
    manifest.json: every later classify failed the hash check. SIGKILL or a power cut did the same."""
    from rnnexport.export.artifacts import export_artifacts

    folder = model_folder(tiny_model_dir, tmp_path, layout)
    before = loader_sees(folder)
    run = EveryStep(folder, staged(folder, "export", "manifest.json"), kill, tmp_path, monkeypatch)
    with run.child_exits():
        export_artifacts(second_checkpoint, folder, names=["Abc", "Zyx"])
    after = loader_sees(folder)
    assert after["notes.txt"] == before["notes.txt"] and after["checkpoint.pt"] == sha256_of(second_checkpoint)
    check_every_state(run, before, after)
    assert leftovers(folder) == []


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["set of links", "plain files"])
def test_training_interrupted_at_every_step_leaves_the_old_model_or_the_new(tiny_model_dir, tiny_names_dir, tmp_path,
                                                                            monkeypatch, layout):  # fmt: skip
    """Training into an exported folder removes the export with the same swap that puts in the checkpoint."""
    folder = model_folder(tiny_model_dir, tmp_path, layout)
    before = loader_sees(folder)
    run = EveryStep(folder, staged(folder, "train", "reliability.png"), True, tmp_path, monkeypatch)
    with run.child_exits():
        result = CliRunner().invoke(main, ["train", "--data", str(tiny_names_dir), "--iterations", "2",
                                           "--hidden-size", "8", "--out", str(folder), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    after = loader_sees(folder)
    assert "manifest.json" not in after and "notes.txt" in after
    check_every_state(run, before, after)
    assert leftovers(folder) == []


@pytest.mark.slow
def test_the_next_run_removes_what_a_killed_swap_left(tiny_model_dir, second_checkpoint, tmp_path, monkeypatch):
    """After a SIGKILL at each step, the next swap into the folder (here one that adds a file) finds the old or
    the new model and leaves no generation, link or partial of the dead writer behind."""
    from rnnexport.export.artifacts import export_artifacts
    from rnnexport.io.generations import swapped_files

    folder = model_folder(tiny_model_dir, tmp_path, "set of links")
    run = EveryStep(folder, staged(folder, "export", "manifest.json"), True, tmp_path, monkeypatch, keep=True)
    with run.child_exits():
        export_artifacts(second_checkpoint, folder, names=["Abc", "Zyx"])
    monkeypatch.undo()
    assert any(leftovers(left) for left in run.left)  # some steps did leave something for the next run to remove
    for left in run.left:
        seen = loader_sees(left)
        with swapped_files(left, "later") as swap:
            (swap.staging / "later.txt").write_text("later\n")
        assert loader_sees(left) == {**seen, "later.txt": sha256_of(left / "later.txt")}
        # the staging folder is this (live) process's: the child was forked after the export staged its files
        assert [name for name in leftovers(left) if f".export.{os.getpid()}." not in name] == []


def test_sigterm_during_the_swap_is_handled_after_it(tiny_model_dir, second_checkpoint, tmp_path):
    """SIGTERM in the middle of the swap said "no partial output was left" while half the new files were in place:
    now it waits for the swap (a few renames), and says the model was written."""
    folder = model_folder(tiny_model_dir, tmp_path, "set of links")
    script = f"""
import os, signal, sys
from rnnexport.cli.app import main
from rnnexport.io.generations import FileOps
steps = []
def before(self, step, path):
    steps.append(step)
    if len(steps) == 3:
        os.kill(os.getpid(), signal.SIGTERM)
FileOps.before = before
main(["export", "--checkpoint", {str(second_checkpoint)!r}, "--out", {str(folder)!r}, "--names", {str(tmp_path / "names.csv")!r}])
"""  # noqa: E501
    (tmp_path / "names.csv").write_text("name\nAbc\nZyx\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 143, result.stderr
    assert result.stderr.startswith("Error: terminated (SIGTERM); no partial output was left, but ")
    assert f"{folder / 'manifest.json'}" in result.stderr and "had already been written in full" in result.stderr
    after = loader_sees(folder)
    assert after["checkpoint.pt"] == sha256_of(second_checkpoint) and leftovers(folder) == []
