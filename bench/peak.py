"""The machine's peak float32 and bf16 rates by a matmul microbenchmark (2 n^3 FLOPs for n x n).

What PyTorch's kernels reach here now, under the shared load: the ceiling for the fractions of peak.
"""

from __future__ import annotations

import time

import torch

from bench import common

FLOAT32_SIZES = {True: (512, 1024), False: (512, 1024, 2048)}  # by quick
# Grow the size while one call stays under this: where bf16 is emulated a large bf16 matmul takes minutes.
CALL_BUDGET_S = 0.5
_measured: dict | None = None  # this process's measurement, reused by the other benchmarks


def matmul_rate(n: int, dtype: torch.dtype, device: str) -> float:
    """GFLOP/s of one timed n x n matmul, after one warm-up call."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(device=device, dtype=dtype) for _ in range(2))
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    for _ in range(2):
        sync()
        started = time.perf_counter()
        torch.matmul(a, b)
        sync()
    return 2 * n**3 / (time.perf_counter() - started) / 1e9


def peak_for(dtype: torch.dtype, device: str, sizes: tuple[int, ...], repetitions: int) -> dict:
    """The best median rate over the sizes under the call budget (the smallest always), sizes taking turns."""
    kept = []
    for n in sizes:
        over = 2 * n**3 / (matmul_rate(n, dtype, device) * 1e9) > CALL_BUDGET_S
        if not kept or not over:
            kept.append(n)
        if over:
            break
    rounds = common.interleaved({n: lambda n=n: matmul_rate(n, dtype, device) for n in kept}, repetitions, warmup=0)
    per_size = {n: common.stats(rates) for n, rates in rounds.items()}
    best = max(per_size, key=lambda n: per_size[n]["p50"])
    return {"gflops": per_size[best]["p50"], "size": best, "per_size": per_size}


def measure(quick: bool) -> dict:
    """Float32 and bf16 peaks of the CPU (and GPU); cached per process."""
    global _measured
    if _measured is not None and (quick or not _measured["quick"]):
        return _measured
    repetitions = 3 if quick else 5
    result = {"quick": quick, "cpu": {"float32": peak_for(torch.float32, "cpu", FLOAT32_SIZES[quick], repetitions),
                                      "bfloat16": peak_for(torch.bfloat16, "cpu", (128, 256, 512, 1024, 2048),
                                                           repetitions)}}
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, not TF32
        result["cuda"] = {name: peak_for(dtype, "cuda", (2048, 4096, 8192), repetitions)
                          for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
    _measured = result
    return result


def run(quick: bool) -> dict:
    common.heading("Peak floating-point rate (matmul microbenchmark)")
    result = measure(quick)
    cpu = result["cpu"]
    bf16_vs_fp32 = cpu["bfloat16"]["gflops"] / cpu["float32"]["gflops"]
    has_bf16, why = common.fast_bf16()
    print(f"  bf16 / float32 on the CPU: {bf16_vs_fp32:.3g}x; fast bf16: {has_bf16} ({why})")
    targets = [common.Target("peak measured", "a matmul microbenchmark states the float32 and bf16 peaks",
                             common.INFO, f"float32 {cpu['float32']['gflops']:.3g} GFLOP/s, bf16 "
                             f"{cpu['bfloat16']['gflops']:.3g} GFLOP/s", why)]
    return {"peak": result, "bf16_over_float32_cpu": bf16_vs_fp32, "targets": targets}
