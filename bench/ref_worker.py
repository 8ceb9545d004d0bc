"""The baseline side of bench/pipelines_vs_ref.py: transformers 4.57 pipelines in .venv-ref, none of our code.

JSON lines in and out: {"op": "load", "key", "task", "model"} builds a pipeline with its defaults;
{"op": "run", "key", "inputs", "kwargs", "batched"} answers {"outputs", "seconds"}.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Anything a library prints must not corrupt the answers: stdout is ours alone.
ANSWERS = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
sys.stdout = sys.stderr

import torch  # noqa: E402
import transformers  # noqa: E402

TASKS = {"qa": ("question-answering", "AutoModelForQuestionAnswering"),
         "classification": ("text-classification", "AutoModelForSequenceClassification"),
         "summarization": ("summarization", "AutoModelForSeq2SeqLM"),
         "translation": ("translation", "AutoModelForSeq2SeqLM"),
         "generation": ("text-generation", "AutoModelForCausalLM")}
OUTPUT_KEYS = {"summarization": "summary_text", "translation": "translation_text"}
pipes: dict = {}


def load(key: str, task: str, folder: str) -> dict:
    # 4.57 does not read transformers 5's `rope_parameters` and would fall back to rope_theta 10000
    # (SmolLM2: 100000). Carry it over, and build the model here: pipeline() would re-read the config.
    config = transformers.AutoConfig.from_pretrained(folder)
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, dict) and "rope_theta" in rope:
        config.rope_theta = rope["rope_theta"]
        if rope.get("rope_type", "default") != "default":
            config.rope_scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    except ValueError:  # saved by transformers 5 as TokenizersBackend, unknown to 4.57; same tokenizer.json
        tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(folder)
    name, auto_class = TASKS[task]
    network = getattr(transformers, auto_class).from_pretrained(folder, config=config)
    pipes[key] = (task, transformers.pipeline(name, model=network, tokenizer=tokenizer))
    return {"transformers": transformers.__version__, "torch": torch.__version__, "threads": torch.get_num_threads()}


def call(task: str, pipe, item, kwargs: dict):
    """One pipeline call on one input (or a list), as a user of 4.57 writes it."""
    if task == "qa":
        return pipe(question=item["question"], context=item["context"], **kwargs)
    if task == "generation":
        return pipe([{"role": "user", "content": item}], **kwargs)
    return pipe(item, **kwargs)


def plain(task: str, output):
    """The output as plain comparable values: answer spans, label lists, or texts."""
    if task == "qa":
        answers = output if isinstance(output, list) else [output]
        return [{"text": a["answer"], "score": a["score"], "start": a["start"], "end": a["end"]} for a in answers]
    if task == "classification":
        return sorted(output, key=lambda x: -x["score"])
    if task in OUTPUT_KEYS:
        return output[0][OUTPUT_KEYS[task]]
    return output[0]["generated_text"][-1]["content"]


def timed_call(task: str, pipe, item, kwargs: dict) -> tuple[float, object]:
    started = time.perf_counter()
    output = call(task, pipe, item, kwargs)
    return time.perf_counter() - started, output


def run(key: str, inputs: list, kwargs: dict, batched: bool) -> dict:
    task, pipe = pipes[key]
    if batched:  # one call on the whole list: 4.57 iterates it with its own batch_size
        seconds, outputs = timed_call(task, pipe, inputs, kwargs)
        # a list input gives one dict per item where a single one gives a list of one
        return {"outputs": [plain(task, [o] if task in OUTPUT_KEYS else o) for o in outputs], "seconds": [seconds]}
    timings = [timed_call(task, pipe, item, kwargs) for item in inputs]
    return {"outputs": [plain(task, output) for _, output in timings], "seconds": [s for s, _ in timings]}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = (load(request["key"], request["task"], request["model"]) if request["op"] == "load"
                      else run(request["key"], request["inputs"], request["kwargs"], request["batched"]))
        except Exception as err:  # report, keep serving: one failing case must not end the others
            answer = {"error": f"{type(err).__name__}: {err}"}
        ANSWERS.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
