"""Output files through the installed entry point: modes, the input never overwritten, FIFOs and devices written
in place, signals and killed writers leave nothing behind, full or forbidden folders are one line."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main

RNNEXPORT = str(Path(sys.executable).parent / "rnnexport")
NAMES = "name\nSmith\nDvořák\nNguyen\n"


def run_cli(args: list[str], cwd: Path, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([RNNEXPORT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kwargs)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def work(tmp_path: Path, tiny_model_dir: Path) -> Path:
    (tmp_path / "in.csv").write_text(NAMES, encoding="utf-8")
    return tmp_path


def classify_args(model_dir: Path, *args: str) -> list[str]:
    return ["classify", *args, "--model-dir", str(model_dir), "--quiet"]


def test_a_new_output_follows_the_umask_and_an_existing_one_keeps_its_mode(work, tiny_model_dir):
    def umask_027():
        os.umask(0o027)

    result = run_cli(classify_args(tiny_model_dir, "in.csv", "-o", "new.csv"), work, preexec_fn=umask_027)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((work / "new.csv").stat().st_mode) == 0o640
    (work / "old.csv").write_text("x")
    os.chmod(work / "old.csv", 0o604)
    assert run_cli(classify_args(tiny_model_dir, "in.csv", "-o", "old.csv"), work).returncode == 0
    assert stat.S_IMODE((work / "old.csv").stat().st_mode) == 0o604
    assert (work / "old.csv").read_text(encoding="utf-8").startswith("name,language,probability")


@pytest.mark.parametrize("alias", ["same path", "./name", "symlink", "hard link"])
def test_output_naming_the_input_is_refused_before_anything_is_read(work, alias):
    output = {"same path": "in.csv", "./name": "./in.csv", "symlink": "link.csv", "hard link": "hard.csv"}[alias]
    if alias == "symlink":
        (work / "link.csv").symlink_to("in.csv")
    if alias == "hard link":
        os.link(work / "in.csv", work / "hard.csv")
    # The model folder does not exist: the refusal comes before any model (or input) is read.
    result = run_cli(classify_args(work / "no-model", "in.csv", "-o", output), work)
    assert result.returncode == 1
    assert "is the input file" in one_error_line(result.stderr)
    assert (work / "in.csv").read_text(encoding="utf-8") == NAMES


def test_a_fifo_output_is_written_in_place_and_a_fifo_input_is_read(work, tiny_model_dir):
    os.mkfifo(work / "out.fifo")
    received = []
    reader = threading.Thread(target=lambda: received.append((work / "out.fifo").read_text(encoding="utf-8")))
    reader.start()
    result = run_cli(classify_args(tiny_model_dir, "in.csv", "-o", "out.fifo"), work)
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO((work / "out.fifo").stat().st_mode)
    assert received[0].startswith("name,language,probability\nSmith,")
    assert not [p.name for p in work.iterdir() if p.name.endswith(".partial")]


def test_process_substitution_input_and_output(work, tiny_model_dir):
    """`classify <(cmd)` was 'empty (0 bytes)'; `-o >(cat)` a traceback about /dev/fd/63...partial."""
    command = f"{RNNEXPORT} classify <(cat in.csv) -o >(cat > copied.csv) --model-dir {tiny_model_dir} --quiet"
    result = subprocess.run(["bash", "-c", command + "; wait"], cwd=work, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for _ in range(50):  # the substituted `cat` may finish just after bash
        if (work / "copied.csv").stat().st_size:
            break
        time.sleep(0.1)
    assert (work / "copied.csv").read_text(encoding="utf-8").count("\n") == 4


@pytest.mark.skipif(os.geteuid() != 0, reason="only root could replace /dev/null")
def test_dev_null_stays_a_device(work, tiny_model_dir):
    before = os.stat("/dev/null")
    assert run_cli(classify_args(tiny_model_dir, "in.csv", "-o", "/dev/null"), work).returncode == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert not list(Path("/dev").glob(".null.*"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_symlinked_output_keeps_the_link_and_replaces_its_target(work, tiny_model_dir, suffix):
    target = work / f"target{suffix}"
    target.write_text("old")
    os.chmod(target, 0o640)
    (work / f"link{suffix}").symlink_to(target.name)
    assert run_cli(classify_args(tiny_model_dir, "in.csv", "-o", f"link{suffix}"), work).returncode == 0
    assert (work / f"link{suffix}").is_symlink() and os.readlink(work / f"link{suffix}") == target.name
    assert target.read_bytes() != b"old" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not [path for path in work.iterdir() if path.name.startswith(".")]


def test_a_dangling_output_link_into_a_missing_folder_is_one_line(work, tiny_model_dir):
    (work / "dangling.csv").symlink_to("absent/x.csv")
    result = run_cli(classify_args(tiny_model_dir, "in.csv", "-o", "dangling.csv"), work)
    assert result.returncode == 1 and result.stderr == f"Error: output folder {work / 'absent'} does not exist\n"


@pytest.mark.parametrize("link", ["/proc/self/fd/1", "/dev/stdout"])
def test_a_link_to_the_process_stdout_writes_into_the_redirected_file(work, tiny_model_dir, link):
    """`-o /dev/stdout > file` (here through links of our own, so that a fault never replaces the machine's
    /dev/stdout): the file gets the rows, and no link is replaced."""
    (work / "out-link").symlink_to(link)
    with open(work / "redirected.csv", "wb") as redirected:
        result = subprocess.run([RNNEXPORT, *classify_args(tiny_model_dir, "in.csv", "-o", "out-link")], cwd=work,
                                stdout=redirected, stderr=subprocess.PIPE, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (work / "out-link").is_symlink() and os.readlink(work / "out-link") == link
    assert (work / "redirected.csv").read_text(encoding="utf-8").splitlines()[0] == "name,language,probability"


def big_csv(path: Path, rows: int = 600_000) -> Path:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    lines = ("".join(rng.choices(letters, k=rng.randint(3, 14))) for _ in range(rows))
    path.write_text("name\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_and_wait_for_partial(args: list[str], folder: Path) -> subprocess.Popen:
    process = subprocess.Popen([RNNEXPORT, *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(folder.glob(".out.csv.*.partial")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signals_remove_the_partial_and_keep_the_old_output(tmp_path, tiny_model_dir, signum, code):
    big_csv(tmp_path / "big.csv")
    (tmp_path / "out.csv").write_text("old\n")
    process = start_and_wait_for_partial(classify_args(tiny_model_dir, "big.csv", "-o", "out.csv"), tmp_path)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Aborted" not in stderr and "Traceback" not in stderr
    assert one_error_line(stderr).startswith(f"Error: {'interrupted' if code == 130 else 'terminated'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "out.csv"]
    assert (tmp_path / "out.csv").read_text() == "old\n"


@pytest.mark.slow
def test_the_next_run_removes_a_killed_writers_partial(tmp_path, tiny_model_dir):
    big_csv(tmp_path / "big.csv")
    (tmp_path / "in.csv").write_text(NAMES, encoding="utf-8")
    process = start_and_wait_for_partial(classify_args(tiny_model_dir, "big.csv", "-o", "out.csv"), tmp_path)
    process.kill()
    process.communicate(timeout=60)
    (leftover,) = tmp_path.glob(".out.csv.*.partial")
    assert leftover.name.startswith(f".out.csv.{process.pid}.")
    # A live writer's partial (this test's pid) is left alone.
    live = tmp_path / f".out.csv.{os.getpid()}.0abc.partial"
    live.write_text("in progress")
    assert run_cli(classify_args(tiny_model_dir, "in.csv", "-o", "out.csv"), tmp_path).returncode == 0
    assert not leftover.exists() and live.exists()
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").count("\n") == 4


@contextlib.contextmanager
def tiny_tmpfs(folder: Path, size: str = "64k"):
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True,
                       capture_output=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount a tmpfs here (needs root in a privileged container)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_is_one_line_and_keeps_the_old_output(tmp_path, tiny_model_dir):
    big = big_csv(tmp_path / "big.csv", rows=20_000)
    with tiny_tmpfs(tmp_path / "small") as small:
        (small / "out.csv").write_text("old\n")
        result = run_cli(classify_args(tiny_model_dir, str(big), "-o", str(small / "out.csv")), tmp_path)
        assert result.returncode == 1
        assert "No space left on device" in one_error_line(result.stderr)
        assert [p.name for p in small.iterdir()] == ["out.csv"]
        assert (small / "out.csv").read_text() == "old\n"


def test_a_read_only_file_system_is_one_line(tmp_path, tiny_model_dir):
    with tiny_tmpfs(tmp_path / "ro") as folder:
        (folder / "out.csv").write_text("old\n")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        result = run_cli(classify_args(tiny_model_dir, "-", "-o", str(folder / "out.csv")), tmp_path, input=NAMES)
        assert result.returncode == 1
        assert "Read-only file system" in one_error_line(result.stderr)
        assert (folder / "out.csv").read_text() == "old\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as 'nobody'")
def test_a_forbidden_folder_is_one_line(tmp_path, tiny_model_dir):
    """As a user who may not write the folder (root may write anywhere, so the CLI runs as nobody)."""
    shared = Path("/tmp") / f"rnnexport-eacces-{os.getpid()}"
    shared.mkdir(mode=0o755)
    try:
        model = shared / "model"
        subprocess.run(["cp", "-r", str(tiny_model_dir), str(model)], check=True)
        (shared / "in.csv").write_text(NAMES, encoding="utf-8")
        os.chmod(shared, 0o755)
        try:
            result = run_cli(classify_args(model, "in.csv", "-o", "out.csv"), shared,
                             preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))  # fmt: skip
        except PermissionError:
            pytest.skip("'nobody' may not run this venv's Python here (the read-only mount test covers EROFS)")
        assert result.returncode == 1
        assert "cannot write out.csv: Permission denied" in one_error_line(result.stderr)
        assert sorted(p.name for p in shared.iterdir()) == ["in.csv", "model"]
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=False)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_file_system_errors_at_the_rename_are_one_line(work, tiny_model_dir, monkeypatch, code):
    def failing_replace(source, target):
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr("rnnexport.io.atomic.os.replace", failing_replace)
    (work / "out.csv").write_text("old\n")
    result = CliRunner().invoke(main, classify_args(tiny_model_dir, str(work / "in.csv"), "-o", str(work / "out.csv")))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"cannot write {work / 'out.csv'}: {os.strerror(code)}" in one_error_line(result.stderr)
    assert sorted(p.name for p in work.iterdir()) == ["in.csv", "out.csv"]
    assert (work / "out.csv").read_text() == "old\n"


def test_stdout_streams_and_the_exit_status_reports_a_late_failure(work, tiny_model_dir):
    """-o - streams like any Unix filter: rows already written stay written, and the Error line plus exit 1 say
    the output is incomplete (documented in `classify --help`)."""
    (work / "late.csv").write_bytes(NAMES.encode("utf-8") + b"Bad\xff\n")
    result = run_cli(classify_args(tiny_model_dir, "late.csv", "--chunk-rows", "1"), work)
    assert result.returncode == 1
    assert "line 5 is not valid UTF-8" in one_error_line(result.stderr)  # after valid UTF-8 letters: "mixes encodings"
    assert result.stdout.startswith("name,language,probability\nSmith,")
    assert "written as they are classified" in run_cli(["classify", "--help"], work).stdout.replace("\n", " ")


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as onnx.save_model raises it: no file name


def test_a_full_disk_during_export_or_train_is_one_line_naming_the_output(tiny_model_dir, tiny_names_dir, tmp_path,
                                                                          monkeypatch):  # fmt: skip
    """A full disk met by a library writing its own file (onnx.save_model, torch.save) was an 'internal error';
    train also left its new --out folder behind."""
    import onnx
    import torch

    runner = CliRunner()
    monkeypatch.setattr(onnx, "save_model", _disk_full)
    out = tmp_path / "new" / "model"
    result = runner.invoke(main, ["export", "--checkpoint", str(tiny_model_dir / "checkpoint.pt"), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: cannot write {out}: No space left on device; free some space or write elsewhere\n"
    assert not (tmp_path / "new").exists()
    monkeypatch.undo()
    monkeypatch.setattr(torch, "save", lambda obj, target, *a, **k: target.write(b"x") and _disk_full())
    result = runner.invoke(main, ["train", "--data", str(tiny_names_dir), "--iterations", "1", "--hidden-size", "4",
                                  "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.strip().endswith(f"Error: cannot write {out}: No space left on device; free some space or "
                                          "write elsewhere")  # fmt: skip
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_a_reader_that_quits_during_one_large_write_ends_with_141(tiny_model_dir, tmp_path, output_format):
    """`classify big.csv | head -c 100`: a pipe's reader that goes away in the middle of one write made it a short
    write, without an error; the rest was dropped and the command exited 0, saying every row was written."""
    path = tmp_path / "in.csv"
    path.write_text("id,name\n" + "".join(f"{i},Smith{'a' * (i % 7)}\n" for i in range(60_000)), encoding="utf-8")
    command = [RNNEXPORT, "classify", str(path), "--model-dir", str(tiny_model_dir), "--output-format", output_format]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(process.stdout.read(100)) == 100
    process.stdout.close()  # the reader goes away after 100 bytes of more than 1 MB
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141 and stderr == b"", stderr.decode()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this machine")
@pytest.mark.parametrize("command", [["classify", "IN", "-o", "-", "--quiet"], ["predict", "Smith"]])
def test_a_full_disk_behind_stdout_is_one_error_line(tiny_model_dir, tmp_path, command):
    """`> /dev/full`: classify's CSV to stdout and predict's echo said 'internal error: OSError'."""
    (tmp_path / "in.csv").write_text("name\nSmith\n", encoding="utf-8")
    args = [str(tmp_path / "in.csv") if arg == "IN" else arg for arg in command]
    with open("/dev/full", "wb") as full:
        result = subprocess.run([RNNEXPORT, *args, "--model-dir", str(tiny_model_dir)], stdout=full,
                                stderr=subprocess.PIPE, timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stderr.decode()
    assert result.stderr.decode().startswith("Error: cannot write ") and "No space left on device" in (
        result.stderr.decode()
    )
    assert "internal error" not in result.stderr.decode()
