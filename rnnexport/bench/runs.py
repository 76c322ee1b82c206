"""How the benchmarks time the CLI honestly on a shared machine: each run of `rnnexport` in a process of its own,
with its wall time, its CPU time (user + system, of that process alone), its peak RSS and the load average when
it started; runs that are compared are interleaved (A B A B ...) so that a change of load hits them alike, and
reported as medians."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One process: ``wall`` and ``cpu`` seconds, ``peak_rss_mb``, and the 1-minute ``load`` average at its start."""

    wall: float
    cpu: float
    peak_rss_mb: float
    load: float


@dataclass
class Runs:
    """The runs of one command, in the order they ran; medians of what they measured."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(run.wall for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.cpu for run in self.runs)

    @property
    def load(self) -> float:
        return statistics.median(run.load for run in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(run.peak_rss_mb for run in self.runs)

    def describe(self, rows: int | None = None) -> str:
        rate = f"{rows / self.wall:>11,.0f} names/s  " if rows else ""
        return (f"{rate}wall {self.wall:6.2f} s  CPU {self.cpu:6.2f} s  peak RSS {self.peak_rss_mb:5.0f} MB  "
                f"load {self.load:4.1f}  (median of {len(self.runs)})")  # fmt: skip

    def as_dict(self, rows: int | None = None) -> dict:
        result = {"label": self.label, "wall_seconds": self.wall, "cpu_seconds": self.cpu, "load_average": self.load,
                  "peak_rss_mb": self.peak_rss_mb, "walls": [run.wall for run in self.runs]}  # fmt: skip
        if rows:
            result["names_per_second"] = rows / self.wall
        return result


def run_cli(args: list[str]) -> Run:
    """One `rnnexport` process (stdout discarded). RuntimeError if it fails.

    The peak is the child's own VmHWM, polled from /proc: getrusage would also count the pages the child
    inherited from this (large) benchmark process before exec. CPU time is the child's own.
    """
    executable = Path(sys.executable).parent / "rnnexport"
    load, cpu_before = os.getloadavg()[0], _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen([str(executable), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, _vm_hwm_kb(process.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"rnnexport {' '.join(args)} failed: {process.stderr.read().decode()[-500:]}")
    return Run(wall, _children_cpu() - cpu_before, peak_kb / 1024, load)


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children so far (a run's is the difference around it: one runs at a
    time)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except (FileNotFoundError, ProcessLookupError):
        return 0


def interleaved(commands: dict[str, list[str]], repeats: int, after: Callable[[], None] | None = None
                ) -> dict[str, Runs]:  # fmt: skip
    """Run each command ``repeats`` times, interleaved (A B C A B C ...); ``after()`` runs after each run (to
    remove an output)."""
    results = {label: Runs(label) for label in commands}
    for _ in range(repeats):
        for label, args in commands.items():
            results[label].runs.append(run_cli(args))
            if after is not None:
                after()
    return results
