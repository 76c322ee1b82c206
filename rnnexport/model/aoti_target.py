"""What an AOTInductor package (char_rnn_aoti.pt2) was compiled for (torch version, machine, CPU flags) and the check
its loader makes that this machine and this torch can run it; examples/cpp/src/aoti_target.cpp makes the same check
in C++. No torch import at module level: the check reads the recorded target and /proc/cpuinfo (only
:func:`aoti_target`, what export --aoti compiles for, asks torch)."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError

# GCC's -m names where /proc/cpuinfo spells the flag otherwise (the rest: '-' becomes '_').
CPUINFO_NAMES = {"avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16"}
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class AotiTarget:
    """torch_version: the public version (2.13.0; the C++ consumer knows only that part); machine: as
    platform.machine(); cpu_isa: Inductor's vector ISA; cpu_flags: the /proc/cpuinfo flags its code needs."""

    torch_version: str
    machine: str
    cpu_isa: str
    cpu_flags: tuple[str, ...]

    def as_metadata(self) -> dict[str, str]:
        """String values (AOTInductor's package metadata holds strings): flags space-separated."""
        return {"torch_version": self.torch_version, "machine": self.machine, "cpu_isa": self.cpu_isa,
                "cpu_flags": " ".join(self.cpu_flags)}  # fmt: skip

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str) -> AotiTarget:
        try:
            return cls(metadata["rnnexport_torch_version"], metadata["rnnexport_machine"],
                       metadata["rnnexport_cpu_isa"], tuple(metadata["rnnexport_cpu_flags"].split()))  # fmt: skip
        except (KeyError, AttributeError):
            raise ArtifactError(f"{source} records no compile target (torch version, machine, CPU flags); "
                                "rebuild it with `rnnexport export --aoti`") from None  # fmt: skip


def public_version(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0' (the local build tag does not change the ABI the package links against)."""
    return version.split("+", 1)[0]


def aoti_target() -> AotiTarget:
    """The target AOTInductor compiles for here: this torch, this machine and the vector ISA Inductor picks."""
    import torch
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    isa = pick_vec_isa()
    flags = [flag[2:] for flag in isa.build_arch_flags().split() if flag.startswith("-m")]
    cpu_flags = tuple(dict.fromkeys(CPUINFO_NAMES.get(flag, flag.replace("-", "_")) for flag in flags))
    return AotiTarget(public_version(torch.__version__), platform.machine(), str(isa) or "none", cpu_flags)


def machine_cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The flags of the first processor in /proc/cpuinfo (x86: 'flags', Arm: 'Features'); None where unreadable."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return set(value.split())
    except OSError:
        return None
    return None


def check_aoti_target(recorded: AotiTarget, source: str, torch_version: str, machine: str | None = None,
                      cpu_flags: set[str] | None = None) -> None:  # fmt: skip
    """ArtifactError, one line, unless a package compiled for ``recorded`` can run under ``torch_version`` on this
    machine (``machine``/``cpu_flags``: this one's by default). A mismatched package would fail to load or crash
    on an illegal instruction; the line says what differs and how to rebuild it."""
    machine = machine or platform.machine()
    cpu_flags = machine_cpu_flags() if cpu_flags is None else cpu_flags
    compiled_for = (f"{source} was compiled by torch {recorded.torch_version} for {recorded.machine} "
                    f"({recorded.cpu_isa})")  # fmt: skip
    rebuild = "rebuild it on this machine with `rnnexport export --aoti` (make aoti)"
    if public_version(torch_version) != recorded.torch_version:
        raise ArtifactError(f"{compiled_for}, but this is torch {public_version(torch_version)}; {rebuild}")
    if machine != recorded.machine:
        raise ArtifactError(f"{compiled_for}, but this machine is {machine}; {rebuild}")
    missing = [flag for flag in recorded.cpu_flags if cpu_flags is not None and flag not in cpu_flags]
    if missing:
        raise ArtifactError(f"{compiled_for}, but this CPU lacks {' '.join(missing)}; {rebuild}")
