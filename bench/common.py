"""What every benchmark shares: interleaved timing, percentiles, ratios, targets, hardware, JSON output.

The machines are shared and noisy, so baseline and candidate always run in alternating rounds (A B, B A,
...) and each figure is a median over rounds, never two wall times taken at different moments.
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
PYTHON = sys.executable
QUIET = dict(HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false",
             HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")  # offline, no progress bars


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(cases: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1) -> dict[str, list]:
    """Every case once per round, the order reversed each round; warm-up rounds are dropped."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    results: dict[str, list] = {name: [] for name in names}
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else reversed(names):
            results[name].append(cases[name]())
    return results


def percentile(samples: list[float], q: int) -> float:
    """The q-th percentile (1-99) with linear interpolation, as numpy's default does."""
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def stats(samples: list[float]) -> dict:
    nan = float("nan")
    return {"n": len(samples), "p50": statistics.median(samples) if samples else nan,
            "p95": percentile(samples, 95), "min": min(samples, default=nan), "max": max(samples, default=nan)}


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of paired ratios: each pair ran back to back, on the same machine state."""
    return statistics.median(n / d for n, d in zip(numerators, denominators) if d)


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


def fast_bf16(flags: frozenset[str] | None = None) -> tuple[bool, str]:
    """Whether this machine computes bf16 natively, by the app's own test, and the evidence in words;
    `flags` stands in for this CPU's (the tests fake a CPU with and without bf16)."""
    import torch

    from pipelines.runtime import hardware

    ok = hardware.fast_bf16(device := hardware.device(), flags)
    if device.type == "cuda":
        return ok, f"CUDA {torch.cuda.get_device_name(0)}: bf16 {'supported' if ok else 'not supported'}"
    if ok:
        found = (hardware.cpu_flags() if flags is None else flags) & hardware.BF16_CPU_FLAGS
        return True, f"CPU flags {', '.join(sorted(found))}"
    return False, f"CPU lacks {' and '.join(sorted(hardware.BF16_CPU_FLAGS))}: bf16 matmuls are emulated"


def machine() -> dict:
    """The CPU (model, precision flags, torch threads), the GPU, and package versions."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from pipelines.runtime import hardware

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.partition(":")[2].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    shown = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
    found = {"cpu": {"model": model, "flags": [f for f in shown if f in hardware.cpu_flags()],
                     "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                     "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()},
             "gpu": None, "versions": {"python": platform.python_version()}}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        found["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                        "bf16": torch.cuda.is_bf16_supported()}
    for package in ("torch", "transformers", "accelerate", "datasets", "gradio", "gradio_client"):
        try:
            found["versions"][package] = version(package)
        except PackageNotFoundError:
            found["versions"][package] = None
    return found


def load_average() -> list[float]:  # how busy the shared machine was
    return [round(x, 2) for x in os.getloadavg()]


def write_result(name: str, payload: dict, quick: bool, started: float, invocation: str) -> Path:
    """bench/results/<name>.json: the raw figures plus the versions and hardware they came from."""
    has_bf16, why = fast_bf16()
    document = {"benchmark": name, "command": invocation,
                "rerun_alone": "python -m bench" + (" --quick" if quick else "") + f" --only {name}",
                "quick": quick, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.perf_counter() - started, 1), **machine(),
                "fast_bf16": {"available": has_bf16, "why": why}, "load_average_at_end": load_average(), **payload}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=asdict) + "\n")  # Targets are dataclasses
    return path


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def environment_for_children(**extra: str) -> dict:
    """This process's environment (as `python -m bench` set it, so both sides run alike), the repo importable."""
    return dict(os.environ, **QUIET, PYTHONWARNINGS="ignore",
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])), **extra)
