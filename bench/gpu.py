"""On a GPU (when there is one): training and inference throughput, float32 vs bf16 autocast, and
model-FLOPs utilisation (MFU) against the GPU's measured bf16 matmul peak.

Two models built from configs with random weights (speed does not need trained ones): a BERT-base
sized classifier (110M parameters) and a causal LM with SmolLM2-135M's configuration. Inputs are
random token ids of a fixed length, so every token is a real token. MFU counts the weight matmuls
(6 FLOPs per weight per token to train, 2 to infer; attention scores left out, the usual convention)
against the bf16 matmul peak measured by bench/peak.py on the same GPU. On a machine without CUDA this
benchmark reports "not applicable" and runs nothing.
"""

from __future__ import annotations

import statistics
import time
from functools import partial

import torch

from bench import common, peak

SHAPES = {"bert-base": (32, 128), "smollm2-135m": (8, 512)}  # training (batch, tokens); inference: 2x batch


def build(name: str, device: str, tiny: bool = False) -> torch.nn.Module:
    """`tiny` shrinks the model to check this code on a CPU in seconds."""
    from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    small = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2) if tiny else {}
    if name == "bert-base":
        return BertForSequenceClassification(BertConfig(num_labels=2, **small)).to(device)
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                         rope_theta=100000.0, tie_word_embeddings=True)
    if tiny:
        config = LlamaConfig(vocab_size=49152, num_key_value_heads=2, **small)
    model = LlamaForCausalLM(config).to(device)
    model.tie_weights()  # moving a model can leave the output layer a copy: tie it back, as SmolLM2 is
    return model


def matmul_parameters(model: torch.nn.Module) -> int:
    """Weights that multiply every token (each Linear, a tied output layer included): 2 FLOPs each per
    token forward, 6 with the backward pass. Embedding lookups cost none."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def batch(name: str, model, size: int, tokens: int, device: str) -> dict:
    ids = torch.randint(1000, 20000, (size, tokens), device=device)
    if name == "bert-base":
        return {"input_ids": ids, "labels": torch.randint(0, 2, (size,), device=device)}
    return {"input_ids": ids, "labels": ids}


def timed_steps(step, steps: int, device: str) -> float:
    """Seconds per step, after one untimed step."""
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def train_rate(name: str, bf16: bool, device: str, steps: int, tiny: bool = False) -> float:
    """Training samples/s, float32 or bf16 autocast (weights and optimizer stay float32)."""
    model = build(name, device, tiny).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    size, tokens = SHAPES[name]
    inputs = batch(name, model, size, tokens, device)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return size / timed_steps(step, steps, device)


def infer_rate(name: str, bf16: bool, device: str, steps: int, tiny: bool = False) -> float:
    """Inference samples/s (one forward of the whole sequence), float32 or bf16 autocast."""
    model = build(name, device, tiny).eval()
    size, tokens = SHAPES[name]
    inputs = {"input_ids": batch(name, model, 2 * size, tokens, device)["input_ids"]}

    def step():
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            model(**inputs)

    return 2 * size / timed_steps(step, steps, device)


def run(quick: bool) -> dict:
    common.heading("GPU: training and inference, float32 vs bf16 autocast")
    if not torch.cuda.is_available():
        print("  no CUDA device here: nothing to measure")
        return {"targets": [common.Target("GPU throughput and MFU", "reported on a GPU", common.NOT_APPLICABLE,
                                          "no GPU on this machine")]}
    peak_bf16 = peak.measure(quick)["cuda"]["bfloat16"]["gflops"]
    steps, rounds = (5, 2) if quick else (20, 3)
    figures, rows = {}, []
    for name in SHAPES:
        params = matmul_parameters(build(name, "meta"))
        size, tokens = SHAPES[name]
        for kind, rate, flops_per_token in (("train", train_rate, 6), ("infer", infer_rate, 2)):
            cases = {precision: partial(rate, name, precision == "bf16", "cuda", steps) for precision in ("float32", "bf16")}
            found = common.interleaved(cases, rounds, warmup=0)
            for precision, rates in found.items():
                median = statistics.median(rates)
                mfu = flops_per_token * params * tokens * median / 1e9 / peak_bf16
                figures[f"{name} {kind} {precision}"] = {"samples_per_s": median, "rounds": rates, "mfu_vs_bf16_peak": mfu}
                rows.append([name, kind, precision, median, mfu])
            torch.cuda.empty_cache()
    common.print_table(["model", "work", "precision", "samples/s", "MFU (of bf16 peak)"], rows)
    targets = [common.Target(f"GPU {key}", "reported", common.INFO,
                             f"{v['samples_per_s']:.3g} samples/s, MFU {v['mfu_vs_bf16_peak']:.0%}")
               for key, v in figures.items()]
    return {"peak_bf16_gflops": peak_bf16, "figures": figures, "targets": targets}
