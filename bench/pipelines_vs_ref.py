"""Our task pipelines vs transformers 4.57's pipelines, same checkpoints, same inputs, same run.

The baseline runs in the reference environment (.venv-ref, transformers 4.57) as a worker process
(bench/ref_worker.py); our side runs here. Every case alternates the two sides round by round, and
each side times only its own pipeline call. Figures: items/s (median over rounds), per-request
latency p50/p95, the median per-round throughput ratio ours / 4.57, and how often the outputs agree
(same label, same answer span, same generated text).

Decoding settings are the same on both sides (beams, new tokens, greedy); 4.57 otherwise runs with
its defaults (batch_size 1, one window at a time). Where our API takes a batch (lines to classify,
sentences of a paragraph, QA windows of a long context) the batched case compares it with 4.57 given
the same list.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from bench import checkpoints, common, inputs, peak
from bench.reference import Reference

NOISE_BAND = 0.05  # per-round ratios here scatter by about this much: "not slower" means >= 0.95x


def one_by_one(call: Callable) -> Callable[[list], dict]:
    """Our side for single requests: one call per input, each timed."""
    def run(items: list) -> dict:
        outputs, seconds = [], []
        for item in items:
            elapsed, output = common.timed(lambda: call(item))
            outputs.append(output)
            seconds.append(elapsed)
        return {"outputs": outputs, "seconds": seconds}
    return run


def as_batch(call: Callable) -> Callable[[list], dict]:
    """Our side for a batch: one call on the whole list, timed once."""
    def run(items: list) -> dict:
        elapsed, outputs = common.timed(lambda: call(items))
        return {"outputs": outputs, "seconds": [elapsed]}
    return run


@dataclass
class Case:
    name: str
    task: str  # the reference worker's task name
    model: str  # folder name under the bench STUDIO_HOME (or the packaged SmolLM2)
    items: list
    sides: dict  # side name -> callable(items) -> {"outputs", "seconds"}; "4.57" is the baseline
    same: Callable  # (ours, reference) output -> agree?
    batched: bool = False
    flops: float | None = None  # model FLOPs of one round on real (non-padding) tokens
    extra_rounds: int = 0  # for cases with few, slow items: more pairs for a steadier median


def measure(case: Case, rounds: int) -> dict:
    """Warm every side on the first item, then time rounds; summarise rates, latencies, agreement.

    Single requests alternate item by item (A B, B A, ...), so each item's two timings are taken
    seconds apart and their ratio is robust to the machine's load drifting; batches alternate round by
    round. The ratio quoted is the median of those paired ratios.
    """
    rounds += case.extra_rounds
    for side in case.sides.values():
        side(case.items[:1])
    if case.batched:
        runs = common.interleaved({name: partial(side, case.items) for name, side in case.sides.items()},
                                  rounds, warmup=0)
    else:
        runs = _item_by_item(case, rounds)
    n_items = len(case.items)
    sides = {}
    for name, results in runs.items():
        rates = [n_items / sum(r["seconds"]) for r in results]
        seconds = [s for r in results for s in r["seconds"]]
        sides[name] = {"items_per_s": statistics.median(rates), "rates": rates, "seconds": seconds,
                       "latency_s": common.Stats.of(seconds).to_dict(), "outputs": results[-1]["outputs"]}
    baseline = sides["4.57"]
    for name, side in sides.items():
        # paired: the baseline's time over ours for the same item (or round), then the median
        pairs = [b / o for b, o in zip(baseline["seconds"], side["seconds"]) if o]
        side["ratio_vs_4.57"] = statistics.median(pairs)
        side["ratio_quartiles"] = [common.percentile(pairs, 25), common.percentile(pairs, 75)]
        if name != "4.57":
            pairs = list(zip(side["outputs"], baseline["outputs"]))
            side["agreement"] = sum(case.same(o, r) for o, r in pairs) / len(pairs)
        if case.flops:
            side["gflops_per_s"] = case.flops * side["items_per_s"] / n_items / 1e9
    return {"case": case.name, "model": case.model, "batched": case.batched, "items": n_items,
            "rounds": rounds, "sides": sides}


def _item_by_item(case: Case, rounds: int) -> dict[str, list[dict]]:
    names = list(case.sides)
    runs = {name: [{"outputs": [], "seconds": []} for _ in range(rounds)] for name in names}
    turn = 0
    for round_number in range(rounds):
        for item in case.items:
            for name in names if turn % 2 == 0 else reversed(names):
                answer = case.sides[name]([item])
                runs[name][round_number]["outputs"] += answer["outputs"]
                runs[name][round_number]["seconds"] += answer["seconds"]
            turn += 1
    return runs


# --- the cases ------------------------------------------------------------------------------------

def qa_answer(item: dict) -> list[dict]:
    from pipelines.tasks import qa

    result = qa.answer_question(item["question"], item["context"], checkpoints.QA, top_k=1,
                                max_answer_len=15, doc_stride=128)  # 4.57's defaults
    return [{"text": a.text, "start": a.start, "end": a.end, "score": a.score} for a in result.answers]


def same_span(ours: list[dict], reference: list[dict]) -> bool:
    return bool(ours and reference) and (ours[0]["start"], ours[0]["end"]) == (reference[0]["start"], reference[0]["end"])


def top_label(labels) -> str:
    return labels[0]["label"] if isinstance(labels[0], dict) else labels[0]


def same_label(ours, reference) -> bool:
    return top_label(ours) == top_label(reference)


def same_text(ours: str, reference: str) -> bool:
    return ours.strip() == reference.strip()


def classify_one(text: str) -> list[str]:
    from pipelines.tasks import sentiment

    return [item.label for item in sentiment.classify_sentiment(text, checkpoints.CLASSIFIER).labels]


def classify_many(texts: list[str]) -> list[list[str]]:
    from pipelines.tasks import sentiment

    return [[item.label for item in r.labels] for r in sentiment.classify_lines(texts, checkpoints.CLASSIFIER)]


def summarize(new_tokens: int, text: str) -> str:
    from pipelines.tasks import summarization

    settings = summarization.SummarySettings(max_new_tokens=new_tokens, num_beams=4)
    return summarization.summarize(text, checkpoints.SUMMARIZER, settings).summary


def translate(new_tokens: int, text: str) -> str:
    from pipelines.tasks import translation

    return translation.translate(text, checkpoints.TRANSLATOR, num_beams=4, max_new_tokens=new_tokens).translation


def translate_paragraph(new_tokens: int, sentences: list[str]) -> list[str]:
    """The sentences as one paragraph, our way (split, batched); compared with 4.57 sentence by sentence."""
    return [translate(new_tokens, " ".join(sentences))]


def generate(new_tokens: int, streamed: bool, prompt: str) -> str:
    from pipelines.models import catalog, lm, loading
    from pipelines.tasks import generation

    settings = lm.GenerationSettings(max_new_tokens=new_tokens, temperature=0.0, repetition_penalty=1.0)
    if streamed:  # what the tab runs: tokens streamed from a generate thread
        return generation.generate_text(prompt, checkpoints.GENERATOR, settings).text
    return lm.complete(loading.load(catalog.resolve("generation", checkpoints.GENERATOR)), prompt, settings)


def encoder_flops(folder, texts: list[str]) -> float:
    """Forward FLOPs of an encoder on these texts, real tokens only: 2 x non-embedding parameters per
    token, plus attention's 4 x layers x width x length^2 per text."""
    from transformers import AutoConfig, AutoTokenizer

    config, tok = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    params = checkpoints.parameters(folder)["non_embedding"]
    lengths = [len(ids) for ids in tok(texts, truncation=True)["input_ids"]]
    return sum(2 * params * n + 4 * config.num_hidden_layers * config.hidden_size * n * n for n in lengths)


def build_cases(ref: Reference, quick: bool) -> list[Case]:
    folders = checkpoints.build_all()
    new_tokens = checkpoints.SEQ2SEQ_NEW_TOKENS[quick]
    short_qa = [{"question": q, "context": c} for q, c in inputs.SHORT_QA[: 3 if quick else 6]]
    context = inputs.long_context(500 if quick else 1000)
    long_qa = [{"question": q, "context": context} for q in inputs.LONG_QA_QUESTIONS[: 1 if quick else 2]]
    reviews_single = inputs.reviews(8 if quick else 16)
    reviews_batch = inputs.reviews(32 if quick else 64, offset=100)
    docs = inputs.documents(1 if quick else 2, 150 if quick else 250)
    sentences = inputs.sentences(4 if quick else 6)
    prompts = list(inputs.GENERATION_PROMPTS[: 1 if quick else 2])
    gen_tokens = 12 if quick else 16

    ref.load("qa", "qa", folders[checkpoints.QA])
    ref.load("cls", "classification", folders[checkpoints.CLASSIFIER])
    ref.load("sum", "summarization", folders[checkpoints.SUMMARIZER])
    ref.load("mt", "translation", folders[checkpoints.TRANSLATOR])
    ref.load("gen", "generation", checkpoints.smollm2_dir())
    seq2seq = {"max_new_tokens": new_tokens}
    return [
        Case("qa-short", "qa", checkpoints.QA, short_qa, {"4.57": ref.side("qa", {}), "ours": one_by_one(qa_answer)},
             same_span),
        Case("qa-long", "qa", checkpoints.QA, long_qa, {"4.57": ref.side("qa", {}), "ours": one_by_one(qa_answer)},
             same_span, extra_rounds=0 if quick else 2),
        Case("classification-single", "classification", checkpoints.CLASSIFIER, reviews_single,
             {"4.57": ref.side("cls", {"top_k": None}), "ours": one_by_one(classify_one)}, same_label),
        Case("classification-batch", "classification", checkpoints.CLASSIFIER, reviews_batch,
             {"4.57": ref.side("cls", {"top_k": None}, batched=True),
              "4.57 batch_size=32": ref.side("cls", {"top_k": None, "batch_size": 32}, batched=True),
              "ours": as_batch(classify_many)}, same_label, batched=True,
             flops=encoder_flops(folders[checkpoints.CLASSIFIER], reviews_batch)),
        Case("summarization", "summarization", checkpoints.SUMMARIZER, docs,
             {"4.57": ref.side("sum", seq2seq), "ours": one_by_one(partial(summarize, new_tokens))}, same_text),
        Case("translation-single", "translation", checkpoints.TRANSLATOR, sentences[: 2 if quick else 3],
             {"4.57": ref.side("mt", seq2seq), "ours": one_by_one(partial(translate, new_tokens))}, same_text),
        Case("translation-paragraph", "translation", checkpoints.TRANSLATOR, sentences,
             {"4.57": _joined(ref.side("mt", seq2seq, batched=True)),
              "ours": as_batch(partial(translate_paragraph, new_tokens))}, same_text, batched=True),
        Case("generation", "generation", checkpoints.GENERATOR, prompts,
             {"4.57": ref.side("gen", {"max_new_tokens": gen_tokens, "do_sample": False}),
              "ours (streamed)": one_by_one(partial(generate, gen_tokens, True)),
              "ours (not streamed)": one_by_one(partial(generate, gen_tokens, False))}, same_text),
    ]


def _joined(side: Callable[[list], dict]) -> Callable[[list], dict]:
    """4.57 given the paragraph's sentences as a list; its outputs joined back into one paragraph."""
    def run(items: list) -> dict:
        answer = side(items)
        return {"outputs": [" ".join(answer["outputs"])], "seconds": answer["seconds"]}
    return run


def run(quick: bool) -> dict:
    common.heading("Task pipelines vs transformers 4.57 pipelines")
    checkpoints.use_bench_home()
    peak_gflops = peak.measure(quick)["cpu"]["float32"]["gflops"]
    rounds = 2 if quick else 3
    ref = Reference()
    try:
        results = [measure(case, rounds) for case in _announced(build_cases(ref, quick))]
    finally:
        ref.close()
    rows = []
    for result in results:
        for name, side in result["sides"].items():
            lat = side["latency_s"]
            low, high = side["ratio_quartiles"]
            rows.append([result["case"], name, side["items_per_s"], lat["p50"] * 1000, lat["p95"] * 1000,
                         side["ratio_vs_4.57"], f"{low:.2f}-{high:.2f}", side.get("agreement", "")])
    common.print_table(["case", "side", "items/s", "p50 ms", "p95 ms", "x vs 4.57", "quartiles", "agreement"], rows)
    return {"rounds": rounds, "reference": ref.info, "peak_float32_gflops": peak_gflops, "cases": results,
            "targets": targets(results, peak_gflops)}


def _announced(cases: list[Case]):
    for case in cases:
        print(f"  {case.name}: {len(case.items)} items, sides {', '.join(case.sides)}", flush=True)
        yield case


def targets(results: list[dict], peak_gflops: float) -> list[common.Target]:
    has_bf16, _ = common.fast_bf16()
    found = []
    for result in results:
        ours = {n: s for n, s in result["sides"].items() if n.startswith("ours")}
        name, side = next(iter(ours.items()))
        low, high = side["ratio_quartiles"]
        measured = f"{side['ratio_vs_4.57']:.2f}x 4.57's speed ({name}; quartiles of the pairs {low:.2f}-{high:.2f})"
        if has_bf16:
            found.append(common.check(f"{result['case']} throughput", ">= 2x transformers 4.57 (fast bf16 here)",
                                      side["ratio_vs_4.57"], 2.0, measured))
        else:
            found.append(common.check(f"{result['case']} throughput", f"not slower than 4.57 (>= {1 - NOISE_BAND:.2f}x"
                                      "); the 2x goal needs fast bf16", side["ratio_vs_4.57"], 1 - NOISE_BAND, measured))
        found.append(common.Target(f"{result['case']} agreement", "same labels / spans / texts as 4.57",
                                   common.MET if side["agreement"] == 1.0 else common.NOT_MET,
                                   f"{side['agreement']:.0%} of {result['items']} outputs agree"))
    for result in results:
        if "gflops_per_s" in result["sides"].get("ours", {}):
            ours = result["sides"]["ours"]["gflops_per_s"]
            found.append(common.Target(
                "inference fraction of peak", "reported (float32 and bf16)", common.INFO,
                f"{result['case']}: {ours:.3g} GFLOP/s on real tokens = {ours / peak_gflops:.0%} of the "
                f"float32 matmul peak ({peak_gflops:.3g} GFLOP/s)",
                "bf16 not used: no fast bf16 here" if not has_bf16 else ""))
    return found
