"""What an output path is decides how it is written, and every command refuses an output it may not write, before
any work: a regular file anywhere (/dev/shm, through /proc) is replaced whole; an output that is an input
(standard input, a model file, a data file) is refused; a file the shell's ``>`` could not write is refused; a
name ending in '/' that is no folder is refused, as cp refuses it. Through the installed entry point."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnnexport.cli.app import main
from rnnexport.io.outputs import writes_in_place
from rnnexport.model.manifest import sha256_of
from tests.test_output_files import NAMES, RNNEXPORT, big_csv, classify_args, one_error_line, run_cli

NOBODY = 65534


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "in.csv").write_text(NAMES, encoding="utf-8")
    return tmp_path


@pytest.fixture
def shm_file():
    """A file name of our own in /dev/shm (an ordinary tmpfs, named like a device folder), removed afterwards."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    folder = Path(tempfile.mkdtemp(prefix="rnnexport-test-", dir="/dev/shm"))
    yield folder / "x.csv"
    shutil.rmtree(folder, ignore_errors=True)


def folder_hashes(folder: Path) -> dict[str, str]:
    return {path.name: sha256_of(path) for path in sorted(folder.iterdir()) if path.is_file()}


# --- 1. atomicity decided by what a file is ----------------------------------------------------------------------


def test_what_a_target_is_decides_whether_it_is_written_in_place(tmp_path, shm_file):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "regular.csv").write_text("x")
    (tmp_path / "to-shm").symlink_to(shm_file)
    assert writes_in_place("/dev/null") and writes_in_place(tmp_path / "fifo")
    assert not writes_in_place(tmp_path / "regular.csv") and not writes_in_place(tmp_path / "absent.csv")
    assert not writes_in_place(shm_file) and not writes_in_place(tmp_path / "to-shm")  # missing, under /dev
    shm_file.write_text("old")
    assert not writes_in_place(shm_file) and not writes_in_place(tmp_path / "to-shm")
    assert not writes_in_place(f"/proc/self/cwd/{os.path.relpath(tmp_path / 'regular.csv')}")


def late_failing_input(folder: Path) -> Path:
    """Valid rows, then a byte that is not UTF-8 on the last line: the run fails after writing most of its rows."""
    path = folder / "late.csv"
    path.write_bytes(NAMES.encode("utf-8") * 2000 + b"Bad\xff\n")
    return path


@pytest.mark.parametrize("how", ["/dev/shm", "a link into /dev/shm", "/proc/self/cwd"])
def test_a_run_that_fails_late_leaves_a_regular_file_under_dev_or_proc_as_it_was(work, tiny_model_dir, shm_file,
                                                                               how):  # fmt: skip
    """A run that failed late cut an existing /dev/shm/x.csv down to its header (exit 1): any path under /dev/ or
    /proc/ was written in place."""
    late = late_failing_input(work)
    target = work / "out.csv" if how == "/proc/self/cwd" else shm_file
    target.write_text("old\n")
    output = {"/dev/shm": str(shm_file), "a link into /dev/shm": "link.csv", "/proc/self/cwd": "/proc/self/cwd/out.csv"}
    if how == "a link into /dev/shm":
        (work / "link.csv").symlink_to(shm_file)
    result = run_cli(classify_args(tiny_model_dir, str(late), "-o", output[how], "--chunk-rows", "100"), work)
    assert result.returncode == 1
    assert "is not valid UTF-8" in one_error_line(result.stderr)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []
    result = run_cli(classify_args(tiny_model_dir, "in.csv", "-o", output[how]), work)
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8").startswith("name,language,probability\nSmith,")
    assert how != "a link into /dev/shm" or (work / "link.csv").is_symlink()


@pytest.mark.slow
def test_overlapping_runs_to_one_dev_shm_file_leave_one_complete_output(work, tiny_model_dir, shm_file):
    """Two overlapping runs to one /dev/shm file both exited 0 leaving 1,568,367 rows for 1,000,001: the second
    truncated the file while the first went on writing at its own offset."""
    big_csv(work / "big.csv")
    complete = {}
    for name in ("big.csv", "in.csv"):
        assert run_cli(classify_args(tiny_model_dir, name, "-o", f"{name}.out"), work).returncode == 0
        complete[name] = (work / f"{name}.out").read_bytes()
    long_run = subprocess.Popen([RNNEXPORT, *classify_args(tiny_model_dir, "big.csv", "-o", str(shm_file))],
                                cwd=work, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (list(shm_file.parent.glob(".x.csv.*.partial")) or (shm_file.exists() and shm_file.stat().st_size)):
        assert long_run.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    assert run_cli(classify_args(tiny_model_dir, "in.csv", "-o", str(shm_file)), work).returncode == 0
    assert long_run.wait(timeout=120) == 0, long_run.stderr.read()
    assert shm_file.read_bytes() in (complete["big.csv"], complete["in.csv"])


# --- 3. an output that is an input -------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["/dev/stdin", "/proc/self/fd/0", "link to /dev/stdin"])
def test_an_output_that_is_standard_input_is_refused(work, tiny_model_dir, output):
    """`classify - -o /dev/stdin < f.csv` overwrote the input while reading it (1,500,001 lines left as 400,001)."""
    if output.startswith("link"):
        (work / "stdin-link").symlink_to("/dev/stdin")
        output = "stdin-link"
    big_csv(work / "big.csv", rows=20_000)
    before = (work / "big.csv").read_bytes()
    with open(work / "big.csv", "rb") as stdin:
        result = run_cli(classify_args(work / "no-model", "-", "-o", output), work, stdin=stdin)
    assert result.returncode == 1  # refused before the (missing) model is looked at
    assert one_error_line(result.stderr) == f"Error: output {output} is standard input, which this command reads; " \
        "write to another file"  # fmt: skip
    assert (work / "big.csv").read_bytes() == before


def test_standard_output_appended_to_the_input_is_refused(work, tiny_model_dir):
    """`classify in.csv >> in.csv` would read its own output, as `cat f >> f` refuses to."""
    with open(work / "in.csv", "ab") as stdout:
        result = subprocess.run([RNNEXPORT, *classify_args(tiny_model_dir, "in.csv")], cwd=work, stdout=stdout,
                                stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "Error: output standard output is the input file in.csv; write to " \
        "another file"  # fmt: skip
    assert (work / "in.csv").read_text(encoding="utf-8") == NAMES


@pytest.mark.parametrize("name", ["manifest.json", "parity.json", "checkpoint.pt", "char_rnn.onnx"])
def test_verify_never_writes_its_report_over_a_model_file(model_copy, name):
    """`verify --report MODEL/manifest.json` replaced the model's manifest (its help says the folder is never
    written)."""
    before = folder_hashes(model_copy)
    result = run_cli(["verify", "--model-dir", str(model_copy), "--report", str(model_copy / name)], model_copy)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == f"Error: output {model_copy / name} is the input file " \
        f"{model_copy / name}; write to another file"  # fmt: skip
    assert folder_hashes(model_copy) == before


def test_verify_never_writes_its_report_over_the_names_it_reads(model_copy, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("name\nSmith\n")
    (tmp_path / "alias.csv").symlink_to(names)
    result = run_cli(["verify", "--model-dir", str(model_copy), "--names", str(names), "--report", "alias.csv"],
                     tmp_path)  # fmt: skip
    assert result.returncode == 1 and "is the input file" in one_error_line(result.stderr)
    assert names.read_text() == "name\nSmith\n"


@pytest.mark.parametrize("name", ["manifest.json", "char_rnn.onnx", "fold_table.json", "checkpoint.pt"])
def test_classify_never_writes_over_a_model_file(model_copy, work, name):
    before = folder_hashes(model_copy)
    result = run_cli(classify_args(model_copy, "in.csv", "-o", str(model_copy / name)), work)
    assert result.returncode == 1 and "is the input file" in one_error_line(result.stderr)
    assert folder_hashes(model_copy) == before


def test_evaluate_never_writes_its_report_over_the_data(tiny_names_dir):
    before = folder_hashes(tiny_names_dir)
    result = CliRunner().invoke(main, ["evaluate", "--cv", "2", "--data", str(tiny_names_dir), "--report",
                                       str(tiny_names_dir / "English.txt")])  # fmt: skip
    assert result.exit_code == 1
    assert one_error_line(result.output).endswith("English.txt; write to another file")
    assert folder_hashes(tiny_names_dir) == before


# --- 8. a name ending in '/' -------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["newdir/", "newdir/.", "in.csv/"])
def test_an_output_ending_in_a_slash_must_be_a_folder(work, tiny_model_dir, output):
    """`-o newdir/` (no such folder) exited 0 and wrote a file 'newdir'; cp refuses: 'Not a directory'."""
    result = run_cli(classify_args(tiny_model_dir, "in.csv", "-o", output), work)
    assert result.returncode == 1
    assert one_error_line(result.stderr).startswith(f"Error: output {output} is not a directory")
    assert sorted(p.name for p in work.iterdir()) == ["in.csv"]
    assert (work / "in.csv").read_text(encoding="utf-8") == NAMES


@pytest.mark.parametrize("command", ["verify", "evaluate"])
def test_a_report_ending_in_a_slash_must_be_a_folder(tiny_model_dir, tiny_names_dir, tmp_path, command):
    args = {"verify": ["verify", "--model-dir", str(tiny_model_dir), "--runtime", "onnx"],
            "evaluate": ["evaluate", "--cv", "2", "--data", str(tiny_names_dir)]}[command]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "reports") + "/"])
    assert result.exit_code == 1
    assert one_error_line(result.output).startswith(f"Error: output {tmp_path / 'reports'}/ is not a directory")
    assert not (tmp_path / "reports").exists()


# --- 5. replacing what the user could not write ------------------------------------------------------------------


@contextlib.contextmanager
def folder_of_nobody():
    """A folder owned by 'nobody' (tmp_path's parents are root's, 0700), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="rnnexport-nobody-"))
    os.chmod(folder, 0o755)
    os.chown(folder, NOBODY, NOBODY)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


AS_NOBODY = """
import os, sys
from rnnexport.cli.app import main
warm_up = sys.argv[1:]  # as root, so that every module is imported (this Python lives where nobody may not read)
try:
    main.main(warm_up[:warm_up.index("--")], standalone_mode=False)
except SystemExit:
    pass
os.setgroups([]); os.setgid({uid}); os.setuid({uid})
main.main(warm_up[warm_up.index("--") + 1:])
"""


def run_as_nobody(args: list[str], cwd: Path, model_dir: Path) -> subprocess.CompletedProcess:
    """The CLI in a process that drops root for 'nobody' once imported (the venv's Python may live under /root,
    which nobody may not enter, so the entry point itself cannot start as nobody); cwd ``cwd``."""
    warm_up = classify_args(model_dir, str(cwd / "in.csv"), "-o", "/dev/null")
    script = AS_NOBODY.format(uid=NOBODY)
    return subprocess.run([sys.executable, "-c", script, *warm_up, "--", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def shell_as_nobody(command: str, cwd: Path) -> subprocess.CompletedProcess:
    def drop() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60,
                          preexec_fn=drop)  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files of two users and drop to 'nobody'")
@pytest.mark.parametrize("case", ["read-only file", "link to another user's file"])
def test_an_output_the_shell_could_not_write_is_refused(tiny_model_dir, case):
    """As a non-root user, -o naming a read-only (0444) file, or a symlink to another user's file in one's own
    folder, replaced it silently where the shell's redirection is refused."""
    with folder_of_nobody() as folder:
        model = folder / "model"
        shutil.copytree(tiny_model_dir, model)
        (folder / "in.csv").write_text(NAMES, encoding="utf-8")
        target = folder / ("mine.csv" if case == "read-only file" else "roots.csv")
        target.write_text("old\n")
        if case == "read-only file":
            os.chown(target, NOBODY, NOBODY)
            os.chmod(target, 0o444)
            output = "mine.csv"
        else:
            os.chmod(target, 0o644)  # root's, readable by all
            (folder / "link.csv").symlink_to("roots.csv")
            os.lchown(folder / "link.csv", NOBODY, NOBODY)
            output = "link.csv"
        shell = shell_as_nobody(f"echo x > {output}", folder)
        if shell.returncode == 0 or "Permission denied" not in shell.stderr:
            pytest.skip(f"the shell as nobody was not refused here: {shell.stderr!r}")
        result = run_as_nobody(classify_args(model, "in.csv", "-o", output), folder, model)
        assert result.returncode == 1, result.stderr
        refusal = "it is not writable for you (the shell's > would be refused too)"
        assert one_error_line(result.stderr) == f"Error: cannot write {output}: Permission denied; {refusal}: " \
            "change its permissions or write elsewhere"  # fmt: skip
        assert target.read_text() == "old\n" and target.stat().st_uid == (NOBODY if case == "read-only file" else 0)
        assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]
        writable = folder / "new.csv"
        result = run_as_nobody(classify_args(model, "in.csv", "-o", writable.name), folder, model)
        assert result.returncode == 0, result.stderr
        assert writable.read_text(encoding="utf-8").startswith("name,language,probability\n")
