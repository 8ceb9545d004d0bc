"""What every benchmark shares: interleaved timing, percentiles, ratios, targets, hardware, JSON output.

The machines this runs on are shared and noisy, so a benchmark never compares two wall times taken at
different moments: `interleaved` runs the baseline and the candidate in alternating rounds (A B, B A,
A B, ...) and each figure quoted is a median over those rounds.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"  # git-ignored
REF_PYTHON = REPO_ROOT / ".venv-ref" / "bin" / "python"  # transformers 4.57, built by `make bench`

# The flags pipelines.models.loading looks for (named here for the report): without them PyTorch emulates
# bf16 matmuls, far slower than float32 (BENCHMARKS.md: 2.8 against 177 GFLOP/s on an AVX2-only EPYC).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


# --- timing -------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call of `fn` took, and what it returned."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(cases: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1) -> dict[str, list]:
    """Call every case once per round, alternating the order each round; return each case's results.

    Warm-up rounds (loading, first-call allocation, caches) run first and are dropped. Alternating the
    order means neither side always runs right after the other's heat or memory traffic.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    results: dict[str, list] = {name: [] for name in names}
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else reversed(names):
            results[name].append(cases[name]())
    return results


def shown(values) -> str:
    """A paired measurement's figure as printed and reported: per-copy milliseconds, or one ratio."""
    return ", ".join(f"{k} {v:.0f}" for k, v in values.items()) if isinstance(values, dict) else f"{values:.3g}"


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default does."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    p95: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        return cls(n=len(samples), median=statistics.median(samples) if samples else float("nan"),
                   p95=percentile(samples, 95), min=min(samples, default=float("nan")),
                   max=max(samples, default=float("nan")))

    @property
    def p50(self) -> float:
        return self.median

    def to_dict(self) -> dict:
        return {**asdict(self), "p50": self.median}


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of paired ratios (rates of the same round, or times of the same item): each pair
    was measured back to back, so it shared the machine's state."""
    return statistics.median(n / d for n, d in zip(numerators, denominators) if d)


# --- targets ------------------------------------------------------------------------------------

MET, NOT_MET, NOT_APPLICABLE, INFO = "met", "not met", "not applicable here", "reported"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, and whether this run met it on this hardware."""

    name: str
    goal: str
    status: str  # MET, NOT_MET, NOT_APPLICABLE or INFO (a figure the issue asks to report)
    measured: str
    why: str = ""

    def line(self) -> str:
        why = f" ({self.why})" if self.why else ""
        return f"  [{self.status:^19}] {self.name}: {self.measured}; goal {self.goal}{why}"


def check(name: str, goal: str, value: float, threshold: float, measured: str, why: str = "") -> Target:
    return Target(name, goal, MET if value >= threshold else NOT_MET, measured, why)


def print_targets(targets: list[Target]) -> None:
    print("Targets:")
    for target in targets:
        print(target.line())


# --- hardware and versions ----------------------------------------------------------------------

def cpu_info() -> dict:
    """CPU model, the flags that decide precision, and the cores torch uses."""
    import torch

    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("unknown", "x86_64", ""):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    shown = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
    return {"model": model, "flags": sorted(f for f in shown if f in flags),
            "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def fast_bf16() -> tuple[bool, str]:
    """Whether this machine computes bf16 natively (the pipelines' own test, so the suite and the app
    agree), and the evidence in words."""
    import torch

    from pipelines.models import loading

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ok = loading.fast_bf16(device)
    if device.type == "cuda":
        return ok, f"CUDA {torch.cuda.get_device_name(0)}: bf16 {'supported' if ok else 'not supported'}"
    have = sorted(loading.cpu_flags() & set(BF16_CPU_FLAGS))
    if ok:
        return True, f"CPU flags {', '.join(have)}"
    return False, f"CPU lacks {' and '.join(BF16_CPU_FLAGS)}: bf16 matmuls are emulated"


def gpu_info() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
            "bf16": torch.cuda.is_bf16_supported()}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("torch", "transformers", "accelerate", "datasets", "gradio", "gradio_client"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was during the run."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --- output -------------------------------------------------------------------------------------

def write_result(name: str, payload: dict, quick: bool, started: float, invocation: str) -> Path:
    """bench/results/<name>.json: the raw figures plus the versions and hardware they came from."""
    has_bf16, why = fast_bf16()
    document = {
        "benchmark": name,
        "command": invocation,  # the command that ran
        "rerun_alone": "python -m bench" + (" --quick" if quick else "") + f" --only {name}",
        "quick": quick,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - started, 1),
        "versions": versions(),
        "cpu": cpu_info(),
        "gpu": gpu_info(),
        "fast_bf16": {"available": has_bf16, "why": why},
        "load_average_at_end": load_average(),
        **payload,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def environment_for_children() -> dict:
    """Environment for the processes a benchmark starts: offline, quiet, and with this process's
    settings (OMP_WAIT_POLICY, STUDIO_PRECISION) inherited, so both sides run alike."""
    return dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore",
                TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_PROGRESS_BARS="1",
                HF_DATASETS_DISABLE_PROGRESS_BARS="1",
                PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))


def python() -> str:
    return sys.executable
