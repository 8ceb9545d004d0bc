"""The machine's peak float32 and bf16 rates, measured with a matrix-multiply microbenchmark.

How the peak is derived: `torch.matmul` of two n x n matrices costs 2 n^3 floating-point operations;
for each size we time several calls (sizes taking turns) and take the median rate; the peak is the
best median over the sizes tried. It is what PyTorch's own kernels reach on this machine right now (a shared machine under
load reaches less than its datasheet figure), which is the fair ceiling for the fractions of peak the
other benchmarks report. bf16 sizes adapt to the speed found: where bf16 is emulated (no AVX-512 BF16
or AMX) a large bf16 matmul would take minutes.
"""

from __future__ import annotations

import time

import torch

from bench import common

FLOAT32_SIZES = {True: (512, 1024), False: (512, 1024, 2048)}  # by quick
CALL_BUDGET_S = 0.5  # grow the size while one call stays under this, so slow dtypes stay cheap
_measured: dict | None = None  # this process's measurement, reused by the other benchmarks


def matmul_rate(n: int, dtype: torch.dtype, device: str, repetitions: int) -> list[float]:
    """GFLOP/s of each of `repetitions` timed n x n matmuls (after one warm-up call)."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
    rates = []
    for i in range(repetitions + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        torch.matmul(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call is the warm-up
            rates.append(2 * n**3 / (time.perf_counter() - started) / 1e9)
    return rates


def peak_for(dtype: torch.dtype, device: str, sizes: tuple[int, ...], repetitions: int) -> dict:
    """The best median rate over `sizes`. Sizes that would take too long at the rate first seen are
    dropped; the others are timed in alternating rounds, so a burst of load elsewhere on a shared
    machine lowers every size a little rather than one size a lot."""
    kept = []
    for n in sizes:
        seconds = 2 * n**3 / (matmul_rate(n, dtype, device, repetitions=1)[0] * 1e9)
        if seconds > CALL_BUDGET_S and kept:
            break
        kept.append(n)
        if seconds > CALL_BUDGET_S:
            break
    rounds = common.interleaved({n: lambda n=n: matmul_rate(n, dtype, device, 1) for n in kept},
                                repetitions, warmup=0)
    per_size = {n: common.Stats.of([rate for r in rates for rate in r]).to_dict() for n, rates in rounds.items()}
    best = max(per_size, key=lambda n: per_size[n]["median"])
    return {"gflops": per_size[best]["median"], "size": best, "per_size": per_size}


def measure(quick: bool) -> dict:
    """Float32 and bf16 peaks of the CPU (and of the GPU when there is one); cached per process."""
    global _measured
    if _measured is not None and (quick or not _measured["quick"]):
        return _measured
    repetitions = 3 if quick else 5
    result = {"quick": quick, "method": __doc__.split("\n\n")[1].replace("\n", " "),
              "cpu": {"float32": peak_for(torch.float32, "cpu", FLOAT32_SIZES[quick], repetitions),
                      "bfloat16": peak_for(torch.bfloat16, "cpu", (128, 256, 512, 1024, 2048), repetitions)}}
    if torch.cuda.is_available():
        sizes = (2048, 4096, 8192)
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, not TF32
        result["cuda"] = {"float32": peak_for(torch.float32, "cuda", sizes, repetitions),
                          "bfloat16": peak_for(torch.bfloat16, "cuda", sizes, repetitions)}
    _measured = result
    return result


def run(quick: bool) -> dict:
    common.heading("Peak floating-point rate (matmul microbenchmark)")
    result = measure(quick)
    rows = []
    for device in ("cpu", "cuda"):
        for dtype, found in result.get(device, {}).items():
            rows.append([device, dtype, found["gflops"], found["size"],
                         " ".join(f"{n}:{s['median']:.3g}" for n, s in found["per_size"].items())])
    common.print_table(["device", "dtype", "peak GFLOP/s", "at n", "median GFLOP/s by n"], rows)
    cpu = result["cpu"]
    bf16_vs_fp32 = cpu["bfloat16"]["gflops"] / cpu["float32"]["gflops"]
    has_bf16, why = common.fast_bf16()
    print(f"  bf16 / float32 on the CPU: {bf16_vs_fp32:.3g}x; fast bf16: {has_bf16} ({why})")
    print(f"  how: {result['method']}")
    targets = [common.Target("peak measured", "a matmul microbenchmark states the float32 and bf16 peaks",
                             common.INFO, f"float32 {cpu['float32']['gflops']:.3g} GFLOP/s, bf16 "
                             f"{cpu['bfloat16']['gflops']:.3g} GFLOP/s", why)]
    return {"peak": result, "bf16_over_float32_cpu": bf16_vs_fp32, "targets": targets}
