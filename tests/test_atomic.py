"""rnnexport.atomic: a file or folder appears whole or not at all."""

import os

import pytest

from rnnexport.errors import InputError
from rnnexport.io.atomic import atomic_file, atomic_folder, atomic_save, atomic_write_json, atomic_write_text


def test_atomic_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "a,b\n")
    assert target.read_text() == "a,b\n"


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(ValueError), atomic_file(target) as handle:
        handle.write("{")
        raise ValueError
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("kind", ["directory", "missing parent"])
def test_unusable_output_paths_are_input_errors(tmp_path, kind):
    path = tmp_path if kind == "directory" else tmp_path / "nope" / "out.csv"
    with pytest.raises(InputError, match=r"is a directory|does not exist"), atomic_file(path):
        pass


def test_atomic_save_cleans_up_after_a_failing_writer(tmp_path):
    def failing(partial):
        partial.write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_save(tmp_path / "sub" / "checkpoint.pt", failing)
    assert list((tmp_path / "sub").iterdir()) == []


def test_atomic_folder_replaces_or_keeps_the_old_one(tmp_path):
    target = tmp_path / "parts"
    target.mkdir()
    (target / "old").write_text("1")
    with pytest.raises(KeyError), atomic_folder(target) as staging:
        (staging / "new").write_text("2")
        raise KeyError
    assert [p.name for p in target.iterdir()] == ["old"]
    with atomic_folder(target) as staging:
        (staging / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["parts"]


def test_a_signal_after_an_output_is_in_place_says_it_was_written(tmp_path, capsys):
    """SIGTERM between the rename and the exit: the message must not claim that nothing was written."""
    import signal

    from rnnexport.cli.console import ended_by
    from rnnexport.io import atomic
    from rnnexport.io.interrupts import Terminated

    atomic.COMMITTED.clear()
    ended_by(Terminated(signal.SIGTERM), debug=False)
    assert capsys.readouterr().err == "Error: terminated (SIGTERM); no partial output was left\n"
    atomic_write_text(tmp_path / "out.csv", "name\n")
    ended = ended_by(Terminated(signal.SIGTERM), debug=False)
    assert ended.exit_code == 143
    assert capsys.readouterr().err == (
        f"Error: terminated (SIGTERM); no partial output was left, but {tmp_path / 'out.csv'} had already been "
        "written in full\n"
    )
    atomic.COMMITTED.clear()


def test_a_failed_atomic_folder_removes_the_parents_it_created(tmp_path):
    with pytest.raises(KeyError), atomic_folder(tmp_path / "data" / "names") as staging:
        (staging / "a.txt").write_text("x")
        raise KeyError("the fetch failed")
    assert list(tmp_path.iterdir()) == []  # no empty data/ left behind


def test_files_written_into_a_staging_folder_are_not_reported_as_outputs(tmp_path):
    """SIGTERM during export said '<folder>/.export.*.partial/checkpoint.pt had already been written in full':
    a file in the staging folder is scratch, removed with it, never an output."""
    from rnnexport.io.atomic import COMMITTED, atomic_write_json
    from rnnexport.io.generations import swapped_files

    COMMITTED.clear()
    with pytest.raises(KeyboardInterrupt), swapped_files(tmp_path, "export") as swap:
        atomic_write_json(swap.staging / "parity.json", {})
        raise KeyboardInterrupt
    assert COMMITTED == [] and sorted(os.listdir(tmp_path)) == []
    with swapped_files(tmp_path, "export") as swap:
        atomic_write_json(swap.staging / "parity.json", {})
    assert [tmp_path / "parity.json"] == COMMITTED
    COMMITTED.clear()
