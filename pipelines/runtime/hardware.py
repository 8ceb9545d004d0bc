"""What this machine computes fast: the one place that decides between bf16 and float32.

A CPU multiplies bf16 natively only with AVX-512 BF16 or AMX; elsewhere it emulates bf16 and runs
slower than float32 (on an AVX2-only EPYC a bf16 forward pass ran at a quarter of the float32
speed or less), so "auto" means bf16 only where it is native. A GPU says so itself.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported on first use: the app serves its UI before paying for it
    import torch

BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=4)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags; empty where there is no cpuinfo (not Linux: then no bf16 is assumed)."""
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return frozenset()
    return next((frozenset(line.partition(":")[2].split()) for line in lines if line.startswith("flags")),
                frozenset())


def device() -> torch.device:
    """Where models run: the GPU when there is one, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def fast_bf16(on: torch.device, flags: frozenset[str] | None = None) -> bool:
    """Whether `on` multiplies bf16 natively; `flags` stands in for this CPU's (tests, benchmarks)."""
    import torch

    if on.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool((cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS)


def training_precision(choice: str, flags: frozenset[str] | None = None) -> str:
    """Accelerate's mixed_precision for a run: "auto" becomes bf16 where it is native, fp16 on a GPU
    without bf16, else "no" (float32); any other choice stands."""
    if choice != "auto":
        return choice
    on = device()
    if fast_bf16(on, flags):
        return "bf16"
    return "fp16" if on.type == "cuda" else "no"
