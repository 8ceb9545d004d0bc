"""The baseline side of bench/pipelines_vs_ref.py: transformers 4.57 pipelines, run in .venv-ref.

Started once per benchmark run as `.venv-ref/bin/python bench/ref_worker.py`; it reads one JSON
request per line on stdin and answers one JSON line on stdout, so the two sides can be timed in
alternating rounds without paying a process start each time. It imports nothing of ours.

Requests: {"op": "load", "key", "task", "model"} builds a pipeline with its default settings;
{"op": "run", "key", "inputs", "kwargs", "batched"} runs it and answers {"outputs", "seconds"}:
one time per input (one call each), or a single time for the whole list when batched.
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

TASKS = {"qa": "question-answering", "classification": "text-classification",
         "summarization": "summarization", "translation": "translation", "generation": "text-generation"}
AUTO_CLASSES = {"qa": "AutoModelForQuestionAnswering", "classification": "AutoModelForSequenceClassification",
                "summarization": "AutoModelForSeq2SeqLM", "translation": "AutoModelForSeq2SeqLM",
                "generation": "AutoModelForCausalLM"}
pipes: dict = {}


def load(key: str, task: str, model: str) -> dict:
    # The model is built here, not by pipeline(): given a folder, 4.57's pipeline() reads the config
    # again itself and would drop the fix `config` makes.
    network = getattr(transformers, AUTO_CLASSES[task]).from_pretrained(model, config=config(model))
    pipes[key] = (task, transformers.pipeline(TASKS[task], model=network, tokenizer=tokenizer(model)))
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def config(folder: str):
    """The folder's config. transformers 5 writes RoPE settings as `rope_parameters`, which 4.57 does
    not read: it would silently fall back to rope_theta 10000 (SmolLM2 uses 100000) and compute a
    different model. Carry the setting over."""
    found = transformers.AutoConfig.from_pretrained(folder)
    rope = getattr(found, "rope_parameters", None)
    if isinstance(rope, dict) and "rope_theta" in rope:
        found.rope_theta = rope["rope_theta"]
        if rope.get("rope_type", "default") != "default":
            found.rope_scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    return found


def tokenizer(folder: str):
    """The folder's tokenizer. A folder saved by transformers 5 names its class TokenizersBackend,
    which 4.57 does not know; the tokenizer.json inside is the same format, so read it directly."""
    try:
        return transformers.AutoTokenizer.from_pretrained(folder)
    except ValueError:
        return transformers.PreTrainedTokenizerFast.from_pretrained(folder)


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
    if task == "summarization":
        return output[0]["summary_text"]
    if task == "translation":
        return output[0]["translation_text"]
    return output[0]["generated_text"][-1]["content"]


def run(key: str, inputs: list, kwargs: dict, batched: bool) -> dict:
    task, pipe = pipes[key]
    if batched:  # one call on the whole list: 4.57 iterates it with its own batch_size
        started = time.perf_counter()
        outputs = call(task, pipe, inputs, kwargs)
        seconds = [time.perf_counter() - started]
        wrap = task in ("summarization", "translation")  # a list input gives one dict per item
        return {"outputs": [plain(task, [o] if wrap else o) for o in outputs], "seconds": seconds}
    outputs, seconds = [], []
    for item in inputs:
        started = time.perf_counter()
        output = call(task, pipe, item, kwargs)
        seconds.append(time.perf_counter() - started)
        outputs.append(plain(task, output))
    return {"outputs": outputs, "seconds": seconds}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "load":
                answer = load(request["key"], request["task"], request["model"])
            else:
                answer = run(request["key"], request["inputs"], request.get("kwargs", {}), request.get("batched", False))
        except Exception as err:  # report, keep serving: one failing case must not end the others
            answer = {"error": f"{type(err).__name__}: {err}"}
        ANSWERS.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
