"""The Dask engine: parity with the local engine on a LocalCluster, a scheduler address, the CLI; faults."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from rnnexport.bench.dask import bench_dask  # noqa: E402
from rnnexport.classify.csv_output import PROBABILITY_DECIMALS  # noqa: E402
from rnnexport.classify.dask_partitions import partitions  # noqa: E402
from rnnexport.classify.model_source import model_files  # noqa: E402
from rnnexport.classify.options import ClassifyOptions  # noqa: E402
from rnnexport.classify.pipeline import classify_dask, classify_local  # noqa: E402
from rnnexport.classify.plan import block_bytes  # noqa: E402
from rnnexport.cli.app import main  # noqa: E402
from rnnexport.errors import ArtifactError, InputError  # noqa: E402
from rnnexport.io.csv.reader import opened_csv  # noqa: E402
from rnnexport.runtimes.registry import open_runtime  # noqa: E402
from tests.helpers import flip_a_byte  # noqa: E402

# A Dask partition holds whole chunks of the local engine (so that its model batches, and its output bytes, are the
# same): small chunks give small files several partitions.
CHUNK_ROWS = 500
ODD_NAMES = ["Dvořák", "Müller", "O'Neil", "", "   ", "1234", "🙂", "Nguyễn", "ZZ", "a"]


def write_names(path: Path, rows: int, seed: int = 0, extra_column: bool = True) -> Path:
    """A CSV of random names plus names that fold to nothing (skipped rows) in known places."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ '"))
    names = ["".join(rng.choice(letters, size=rng.integers(1, 12))) for _ in range(rows)]
    for i in range(0, rows, 97):
        names[i] = ODD_NAMES[(i // 97) % len(ODD_NAMES)]
    frame = pd.DataFrame({"id": np.arange(rows).astype(str), "name": names} if extra_column else {"name": names})
    frame.to_csv(path, index=False)
    return path


def local_reference(input_path: Path, output: Path, model_dir: Path, options: ClassifyOptions):
    return classify_local(str(input_path), str(output), open_runtime("onnx", model_dir), options)


def assert_same_rows(expected_csv: Path, actual: pd.DataFrame | Path) -> None:
    """Every column equal as text, except probabilities: within one step of the printed last place (PROBABILITY_
    DECIMALS), empty where the other is empty."""
    expected = pd.read_csv(expected_csv, dtype=str, keep_default_na=False)
    if isinstance(actual, Path):
        actual = pd.read_csv(actual, dtype=str, keep_default_na=False)
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for column in expected.columns:
        if column.startswith("probability"):
            left = pd.to_numeric(expected[column].replace("", np.nan)).to_numpy(dtype=float)
            right = pd.to_numeric(actual[column].replace("", np.nan)).to_numpy(dtype=float)
            np.testing.assert_array_equal(np.isnan(left), np.isnan(right))
            # In units of the last printed place: a value unrounded on one side may round either way on the other.
            units = [np.rint(values[~np.isnan(left)] * 10**PROBABILITY_DECIMALS) for values in (left, right)]
            assert (np.abs(units[0] - units[1]) <= 1).all(), column
        else:
            assert actual[column].tolist() == expected[column].tolist(), column


def no_leftovers(folder: Path) -> bool:
    return not [path for path in folder.iterdir() if path.name.startswith(".")]


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes, shared by the tests that pass its address."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        ) as local_cluster,
        distributed.Client(local_cluster) as client,
    ):
        yield local_cluster.scheduler_address, client


def test_local_cluster_matches_local_engine(cluster, tiny_model_dir, tmp_path):
    address, client = cluster
    source = write_names(tmp_path / "names.csv", 3000)
    options = ClassifyOptions(top_k=3, chunk_rows=CHUNK_ROWS)
    expected = local_reference(source, tmp_path / "local.csv", tiny_model_dir, options)
    seen = {}

    def on_rows(count: int) -> None:
        # Mid-run, each worker that has started a partition holds its runtime in its own local folder, not the
        # driver's model folder. Asked after every partition: a worker may not have started one yet.
        for worker, (local_directory, folders) in client.run(runtime_folders_on_worker).items():
            seen.setdefault(worker, (local_directory, set()))[1].update(folders)
        seen["rows"] = seen.get("rows", 0) + count

    summary = classify_dask(
        str(source), str(tmp_path / "dask.csv"), options, model_dir=tiny_model_dir, scheduler=address,
        blocksize="8KB", on_rows=on_rows,
    )  # fmt: skip
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert (summary.rows, summary.skipped, summary.column) == (expected.rows, expected.skipped, "name")
    assert summary.skipped > 0 and summary.runtime == "onnx"
    assert seen.pop("rows") == 3000
    assert any(folders for _, folders in seen.values()), "a worker loaded the model"
    for local_directory, folders in seen.values():
        assert all(folder.startswith(local_directory) for folder in folders)


# A lambda travels by value to the workers (they cannot import this test module); sys is there already.
runtime_folders_on_worker = lambda dask_worker: (  # noqa: E731
    dask_worker.local_directory,
    sorted(
        str(folder)
        for folder, _ in getattr(sys.modules.get("rnnexport.classify.dask_workers"), "_RUNTIMES", {}).values()
    ),
)


def test_local_cluster_parquet_matches_local_engine(cluster, committed_model_dir, tmp_path):
    """Worker processes read their row groups from the file and return Arrow tables: the same file as local (on
    the committed model, whose float32 results show whether a worker lost prefix sharing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    address, _ = cluster
    names = pd.read_csv(write_names(tmp_path / "names.csv", 1500), dtype=str, keep_default_na=False)
    table = pa.Table.from_pandas(names.assign(id=names["id"].astype(int)), preserve_index=False)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=200)
    options = ClassifyOptions(chunk_rows=CHUNK_ROWS, top_k=2)
    local_reference(tmp_path / "in.parquet", tmp_path / "local.parquet", committed_model_dir, options)
    summary = classify_dask(
        str(tmp_path / "in.parquet"), str(tmp_path / "dask.parquet"), options, model_dir=committed_model_dir,
        scheduler=address, blocksize="4KB",
    )  # fmt: skip
    local, distributed_output = pq.ParquetFile(tmp_path / "local.parquet"), pq.ParquetFile(tmp_path / "dask.parquet")
    assert distributed_output.read().equals(local.read())
    assert distributed_output.metadata.num_row_groups == local.metadata.num_row_groups == 1500 // CHUNK_ROWS
    assert summary.rows == 1500 and summary.skipped > 0 and no_leftovers(tmp_path)
    # One name alone: the per-name graph and prefix sharing's step graph round differently (1e-7 apart).
    pq.write_table(pa.table({"name": ["Smith"]}), tmp_path / "one.parquet")
    local_reference(tmp_path / "one.parquet", tmp_path / "one-local.parquet", committed_model_dir, options)
    classify_dask(str(tmp_path / "one.parquet"), str(tmp_path / "one-dask.parquet"), options,
                  model_dir=committed_model_dir, scheduler=address)  # fmt: skip
    assert pq.read_table(tmp_path / "one-dask.parquet").equals(pq.read_table(tmp_path / "one-local.parquet"))


@pytest.mark.parametrize("runtime", ["onnx", "torchscript"])
def test_threaded_scheduler_matches_local_engine(runtime, tiny_model_dir, tmp_path):
    import torch

    threads = torch.get_num_threads()
    source = write_names(tmp_path / "names.csv", 800, extra_column=False)
    classify_local(
        str(source),
        str(tmp_path / "local.csv"),
        open_runtime(runtime, tiny_model_dir),
        ClassifyOptions(chunk_rows=CHUNK_ROWS),
    )
    summary = classify_dask(
        str(source), str(tmp_path / "dask.csv"), ClassifyOptions(chunk_rows=CHUNK_ROWS), model_dir=tiny_model_dir,
        runtime=runtime, scheduler="threads", blocksize="2KB", workers=2,
    )  # fmt: skip
    torch.set_num_threads(threads)  # the in-process torchscript runtime set one thread for this process
    assert_same_rows(tmp_path / "local.csv", tmp_path / "dask.csv")
    assert summary.runtime == runtime


def bad_input_cases(tmp_path: Path) -> dict[str, tuple[Path, ClassifyOptions]]:
    rows = "".join(f"Name{i},{i}\n" for i in range(400))
    cases = {
        "malformed row": ("name,id\n" + rows + "a,b,c\n" + rows, ClassifyOptions(chunk_rows=CHUNK_ROWS)),
        "strict: no letter": (
            "name,id\n" + rows + "1234,0\n" + rows,
            ClassifyOptions(strict=True, chunk_rows=CHUNK_ROWS),
        ),
        "clashing column": ("name,language\nSmith,x\n", ClassifyOptions(chunk_rows=CHUNK_ROWS)),
        "missing column": ("name,id\nSmith,1\n", ClassifyOptions(column="surname", chunk_rows=CHUNK_ROWS)),
        "no header": ("\n", ClassifyOptions(chunk_rows=CHUNK_ROWS)),
    }
    written = {}
    for label, (text, options) in cases.items():
        path = tmp_path / f"{label.split(':')[0].replace(' ', '_')}.csv"
        path.write_text(text, encoding="utf-8")
        written[label] = (path, options)
    invalid = tmp_path / "invalid_utf8.csv"
    invalid.write_bytes(b"name,id\n" + rows.encode() + b"\xff\xfe,1\n" + rows.encode())
    written["invalid utf-8"] = (invalid, ClassifyOptions(chunk_rows=CHUNK_ROWS))
    return written


def test_bad_input_fails_as_in_local_engine_and_leaves_output_untouched(cluster, tiny_model_dir, tmp_path):
    address, _ = cluster
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    output = tmp_path / "out.csv"
    for label, (path, options) in bad_input_cases(inputs).items():
        output.write_text("previous result\n")
        with pytest.raises(InputError) as local_error:
            local_reference(path, output, tiny_model_dir, options)
        with pytest.raises(InputError) as dask_error:
            classify_dask(str(path), str(output), options, model_dir=tiny_model_dir, scheduler=address, blocksize="1KB")
        assert str(dask_error.value) == str(local_error.value), label
        assert output.read_text() == "previous result\n", label
        assert no_leftovers(tmp_path), label


def test_partition_whose_first_row_has_an_extra_field_fails(tiny_model_dir, tmp_path):
    source = tmp_path / "extra.csv"
    source.write_text("name,id\nSmith,1,extra\nJones,2\n")
    with pytest.raises(InputError) as local_error:
        local_reference(source, tmp_path / "out.csv", tiny_model_dir, ClassifyOptions(chunk_rows=CHUNK_ROWS))
    with pytest.raises(InputError) as dask_error:
        classify_dask(
            str(source),
            str(tmp_path / "out.csv"),
            ClassifyOptions(chunk_rows=CHUNK_ROWS),
            model_dir=tiny_model_dir,
            scheduler="sync",
        )
    assert (
        str(dask_error.value)
        == str(local_error.value)
        == "extra.csv: line 2 has 3 fields, the header has 2; "
        "quote fields that contain a comma (or pass --delimiter)".replace("extra.csv", str(source))
    )
    assert not (tmp_path / "out.csv").exists() and no_leftovers(tmp_path)


@pytest.mark.parametrize("damage", ["missing", "flipped byte"])
def test_bad_model_fails_as_in_local_engine(damage, model_copy, tmp_path):
    onnx_file = model_copy / "char_rnn.onnx"
    if damage == "missing":
        onnx_file.unlink()
    else:
        flip_a_byte(onnx_file)
    source = write_names(tmp_path / "names.csv", 10)
    with pytest.raises(ArtifactError) as local_error:
        local_reference(source, tmp_path / "out.csv", model_copy, ClassifyOptions(chunk_rows=CHUNK_ROWS))
    with pytest.raises(ArtifactError) as dask_error:
        classify_dask(
            str(source), str(tmp_path / "out.csv"), ClassifyOptions(chunk_rows=CHUNK_ROWS), model_dir=model_copy
        )
    assert str(dask_error.value) == str(local_error.value)


@pytest.mark.parametrize("runtime", ["onnx", "onnx-cell"])
def test_workers_get_the_files_prefix_sharing_reads(runtime, tiny_model_dir):
    """Without char_rnn_step/head.onnx a worker silently computed per name: 1e-7 off the local engine. The
    cell runs name by name: it needs only its own graph."""
    files, digest = model_files(tiny_model_dir, runtime, verify_hash=True)
    prefix_files = {"char_rnn_step.onnx", "char_rnn_head.onnx"}
    assert (prefix_files <= set(files)) == (runtime == "onnx") and "manifest.json" in files
    artifact = "char_rnn.onnx" if runtime == "onnx" else "char_rnn_cell.onnx"
    assert files[artifact] == (tiny_model_dir / artifact).read_bytes() and len(digest) == 64


def test_unusable_options_fail_before_any_cluster_starts(tiny_model_dir, tmp_path):
    source = write_names(tmp_path / "names.csv", 10)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        ({"output_path": str(tmp_path / "folder")}, "is a directory; give a file name"),
        ({"output_path": str(tmp_path / "absent" / "out.csv")}, "does not exist"),
        ({"blocksize": "lots"}, "--blocksize 'lots' is not a size"),
        ({"runtime": "tensorflow"}, "unknown runtime 'tensorflow'"),
        *(({"scheduler": bad}, f"--scheduler {bad!r} is not 'threads', 'sync' or a scheduler's address")
          for bad in ("bogus", "SYNC", "localhost:8786x", "inproc://x", "http://127.0.0.1:1", "tcp://127.0.0.1:99999")),
    ]  # fmt: skip
    os.mkfifo(tmp_path / "fifo.csv")
    for overrides, message in cases:
        arguments = {"output_path": str(tmp_path / "out.csv"), "model_dir": tiny_model_dir, **overrides}
        output = arguments.pop("output_path")
        with pytest.raises(InputError, match=re.escape(message)):
            # No scheduler given: these must fail before a LocalCluster would start.
            classify_dask(str(source), output, ClassifyOptions(chunk_rows=CHUNK_ROWS), **arguments)
    with pytest.raises(InputError, match="is not a regular file; --engine dask reads it at its path"):
        classify_dask(
            str(tmp_path / "fifo.csv"), str(tmp_path / "out.csv"), ClassifyOptions(), model_dir=tiny_model_dir
        )  # fmt: skip (reading the FIFO would hang: nobody writes to it)


def test_header_only_and_bom_match_local_engine(tiny_model_dir, tmp_path):
    for text in ("name\n", "\ufeffName,id\nSmith,1\n,2\n"):
        source = tmp_path / "in.csv"
        source.write_text(text, encoding="utf-8")
        expected = local_reference(
            source, tmp_path / "local.csv", tiny_model_dir, ClassifyOptions(chunk_rows=CHUNK_ROWS)
        )
        summary = classify_dask(
            str(source),
            str(tmp_path / "dask.csv"),
            ClassifyOptions(chunk_rows=CHUNK_ROWS),
            model_dir=tiny_model_dir,
            scheduler="sync",
        )
        assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
        assert (summary.rows, summary.skipped, summary.column) == (expected.rows, expected.skipped, expected.column)


def test_default_blocksize_splits_30mb_into_partitions(tmp_path):
    source = tmp_path / "big.csv"
    source.write_bytes(b"name\n" + b"Abercrombie\n" * 2_600_000)  # about 31 MB
    with opened_csv(str(source), chunk_rows=200_000) as csv_input:
        parts = list(partitions(csv_input, str(source), block_bytes("16MB"), 200_000))
    assert len(parts) == 2 and sum(part.length for part in parts) == source.stat().st_size - len(b"name\n")
    assert (
        parts[1].start.offset == parts[0].start.offset + parts[0].length and parts[1].start.record == 1 + 1_400_000
    )  # the header is record 0


def worker_pids(client) -> list[int]:
    """The pids the scheduler knows (client.run would wait out a connect timeout on a dead worker)."""
    return client.run_on_scheduler(lambda dask_scheduler: [ws.pid for ws in dask_scheduler.workers.values()])


def wait_for_restart(client, killed_pid: int, workers: int = 2, timeout: float = 60) -> None:
    """Return once the killed worker is gone and the nanny's replacement has joined."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(client)
        if len(pids) == workers and killed_pid not in pids:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker {killed_pid} was not replaced within {timeout} s")


# By value to the workers, like runtime_folders_on_worker.
plugin_names_on_worker = lambda dask_worker: sorted(dask_worker.plugins)  # noqa: E731


def has_model_everywhere(plugins: dict) -> bool:
    return len(plugins) == 2 and all(any(n.startswith("rnnexport-model-") for n in names) for names in plugins.values())


def test_worker_killed_mid_run_is_survived(cluster, tiny_model_dir, tmp_path):
    """Kill one of the two worker processes after the first partition is written; Dask reruns its tasks."""
    address, client = cluster
    source = write_names(tmp_path / "names.csv", 20_000)
    local_reference(source, tmp_path / "local.csv", tiny_model_dir, ClassifyOptions(chunk_rows=CHUNK_ROWS))
    killed, plugins = [], {}

    def kill_then_check(_: int) -> None:
        if not killed:
            pid = min(worker_pids(client))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        elif not plugins:
            # Mid-run still: the replacement worker must receive the model plugin too.
            wait_for_restart(client, killed[0])
            deadline = time.monotonic() + 30
            while not has_model_everywhere(plugins) and time.monotonic() < deadline:
                plugins.update(client.run(plugin_names_on_worker))
                time.sleep(0.1)

    summary = classify_dask(
        str(source), str(tmp_path / "dask.csv"), ClassifyOptions(chunk_rows=CHUNK_ROWS), model_dir=tiny_model_dir,
        scheduler=address, blocksize="16KB", on_rows=kill_then_check,
    )  # fmt: skip
    assert killed and summary.rows == 20_000
    assert_same_rows(tmp_path / "local.csv", tmp_path / "dask.csv")
    assert has_model_everywhere(plugins)


@pytest.fixture
def scheduler_address(tmp_path):
    """`dask scheduler` and one `dask worker` as subprocesses on 127.0.0.1, stopped after the test."""
    dask_cli = str(Path(sys.executable).parent / "dask")
    scheduler_file = str(tmp_path / "scheduler.json")
    scheduler = [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file"]
    worker = [dask_cli, "worker", "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([*scheduler, scheduler_file], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not Path(scheduler_file).is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        processes.append(subprocess.Popen([*worker, "--scheduler-file", scheduler_file], **quiet))
        with distributed.Client(scheduler_file=scheduler_file) as client:
            client.wait_for_workers(1, timeout=60)
            yield client.scheduler.address
            client.shutdown()  # scheduler and worker exit at once (SIGTERM makes the worker wait for its nanny)
    finally:
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=20)


def test_scheduler_address_of_dask_cli_cluster(scheduler_address, tiny_model_dir, tmp_path):
    source = write_names(tmp_path / "names.csv", 1000)
    local_reference(source, tmp_path / "local.csv", tiny_model_dir, ClassifyOptions(top_k=2, chunk_rows=CHUNK_ROWS))
    summary = classify_dask(
        str(source), str(tmp_path / "dask.csv"), ClassifyOptions(top_k=2, chunk_rows=CHUNK_ROWS),
        model_dir=tiny_model_dir, scheduler=scheduler_address, blocksize="8KB",
    )  # fmt: skip
    assert_same_rows(tmp_path / "local.csv", tmp_path / "dask.csv")
    assert summary.rows == 1000


def test_unreachable_scheduler_is_a_clear_error(tiny_model_dir, tmp_path):
    source = write_names(tmp_path / "names.csv", 10)
    result = CliRunner().invoke(
        main,
        ["classify", str(source), "-o", str(tmp_path / "out.csv"), "--engine", "dask", "--model-dir",
         str(tiny_model_dir), "--scheduler", "tcp://127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert not (tmp_path / "out.csv").exists()


def test_cli_dask_engine_starts_its_own_local_cluster(tiny_model_dir, tmp_path):
    source = write_names(tmp_path / "names.csv", 1200)
    local_reference(source, tmp_path / "local.csv", tiny_model_dir, ClassifyOptions(chunk_rows=CHUNK_ROWS))
    result = CliRunner().invoke(
        main,
        ["classify", str(source), "-o", str(tmp_path / "dask.csv"), "--engine", "dask", "--workers", "2",
         "--blocksize", "8KB", "--chunk-rows", str(CHUNK_ROWS), "--model-dir", str(tiny_model_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1200 records in, 1200 rows out" in result.output and "engine dask" in result.output
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


def test_bench_dask_at_a_tiny_size(tiny_model_dir, tmp_path):
    results = bench_dask(2000, tiny_model_dir, tmp_path)
    assert [entry["engine"] for entry in results] == ["local", "dask-threads", "dask-localcluster"]
    assert all(entry["rows"] == 2000 and entry["rows_per_second"] > 0 for entry in results)


def test_an_input_error_on_a_local_cluster_is_one_line(tiny_model_dir, tmp_path):
    """The worker's own log of the failed task ("Compute Failed", a traceback) must not reach the user."""
    rows = "".join(f"Name{i}\n" for i in range(3000))
    (tmp_path / "late.csv").write_text(f"name\n{rows}A,B\n")
    command = [str(Path(sys.executable).with_name("rnnexport")), "classify", "late.csv", "-o", "out.csv", "--engine",
               "dask", "--workers", "1", "--blocksize", "1KB", "--chunk-rows", "500", "--model-dir",
               str(tiny_model_dir), "--quiet"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: late.csv: line 3002 has 2 fields, the header has 1; quote fields that contain a comma (or pass "
        "--delimiter)"
    ]
    assert not (tmp_path / "out.csv").exists()
