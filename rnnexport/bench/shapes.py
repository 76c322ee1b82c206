"""Issue 20's input shapes in `make bench`: time and peak RSS of `classify` on files whose shape, not size, used
to cost memory or time (a name and a million empty columns, 20,000 columns, one 50 MB name, 5,000 one-row
Parquet row groups); and issue 21's targets judged on the figures of a run (`targets`)."""

from __future__ import annotations

from pathlib import Path

from .runs import interleaved

PEAK_RSS_TARGET_MB = 400
SHAPE_TARGET_SECONDS = {"one 50 MB name": 30.0, "5,000 one-row row groups": 2.0}


def _wide(path: Path, columns: int, rows: int) -> Path:
    if not path.is_file():
        empty = b"," * (columns - 1)
        with open(path.with_suffix(".tmp"), "wb") as handle:
            handle.write(b"name" + empty + b"\n")
            for row in range(rows):
                handle.write(b"Smith%d" % (row % 7) + empty + b"\n")
        path.with_suffix(".tmp").replace(path)
    return path


def _long_name(path: Path, megabytes: float) -> Path:
    if not path.is_file():
        letters = b"abcdefghijklmnopqrstuvwxy" * int(megabytes * 40_000)
        path.write_bytes(b"id,name\n1,Smith\n2," + letters + b"\n3,Li\n")
    return path


def _tiny_row_groups(path: Path, rows: int) -> Path:
    if not path.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"id": list(range(rows)), "name": [f"Smith{i % 7}" for i in range(rows)]})
        pq.write_table(table, path, row_group_size=1)
    return path


def shapes(model_dir: Path, workdir: Path, report, repeats: int = 3, scale: float = 1.0) -> list[dict]:
    """Each shape classified ``repeats`` times, interleaved: medians of wall and CPU time, peak RSS, the input's
    megabytes per second (time linear in bytes), each against issue 20's targets (``scale`` < 1: smaller files,
    for tests)."""

    def scaled(count: int) -> int:
        return max(int(count * scale), 1)

    files = {
        "a name and 1M empty columns (151 MB)": _wide(
            workdir / f"shape-1M-columns-{scale}.csv", scaled(1_000_000), 150
        ),
        "20,000 columns (80 MB)": _wide(workdir / f"shape-20k-columns-{scale}.csv", 20_000, scaled(4_000)),
        "one 50 MB name": _long_name(workdir / f"shape-50MB-name-{scale}.csv", scale * 50),
        "5,000 one-row row groups": _tiny_row_groups(workdir / f"shape-tiny-row-groups-{scale}.parquet", scaled(5_000)),
    }
    out = workdir / "shape-out.csv"
    commands = {label: ["classify", str(path), "-o", str(out), "--model-dir", str(model_dir), "--quiet"]
                for label, path in files.items()}  # fmt: skip
    measured = interleaved(commands, repeats, after=lambda: out.unlink(missing_ok=True))
    results = []
    report(f"issue 20's input shapes, onnx, {repeats} interleaved runs each:")
    for label, runs in measured.items():
        megabytes = files[label].stat().st_size / 1e6
        limit = SHAPE_TARGET_SECONDS.get(label)
        met = runs.peak_rss_mb <= PEAK_RSS_TARGET_MB and (limit is None or runs.wall < limit)
        results.append({**runs.as_dict(), "megabytes": megabytes, "megabytes_per_second": megabytes / runs.wall,
                        "target_seconds": limit, "target_peak_rss_mb": PEAK_RSS_TARGET_MB, "met": met})  # fmt: skip
        target = f"< {limit:.0f} s and " if limit else ""
        report(f"  {label:<38} {runs.describe()}  {megabytes / runs.wall:6.1f} MB/s  (target {target}<= "
               f"{PEAK_RSS_TARGET_MB} MB: {'met' if met else 'NOT met'})")  # fmt: skip
    return results


TARGETS = {"W1": 2.5, "W2": 0.7}  # end to end, onnx with prefix sharing, times the naive GEMM ceiling
COLD_START_TARGET = 0.25  # seconds, 10 rows


def targets(results: dict, report) -> dict:
    """Issue 21's targets judged on this run's medians (each says its value, its target, and whether it is met)."""
    judged = {}
    for kind, target in TARGETS.items():
        row = next(row for row in results["workloads"][kind]["end_to_end"]
                   if row["runtime"] == "onnx" and row["prefix_sharing"])  # fmt: skip
        judged[f"{kind} x naive ceiling"] = (row["x_naive_ceiling"], target, row["x_naive_ceiling"] >= target)
    quoting = results["quoting"]
    judged["quoted / unquoted"] = (quoting["quoted_over_unquoted"], quoting["target"], quoting["met"])
    cold = results["cold_start"]["wall_seconds"]
    judged["cold start, s"] = (cold, COLD_START_TARGET, cold <= COLD_START_TARGET)
    report(f"targets (load average {results['load_average'][0]:.1f} at the start):")
    for name, (value, target, met) in judged.items():
        report(f"  {name:<22} {value:7.3f}  target {target}  {'met' if met else 'NOT met'}")
    return {name: {"value": value, "target": target, "met": met} for name, (value, target, met) in judged.items()}
