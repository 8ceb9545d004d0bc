"""Concurrent calls grouped into batches: who runs with whom, and what each caller gets back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.runtime.microbatch import MicroBatcher
from pipelines.tasks import sentiment


class GatedModel:
    """A fake batched model that records its batches and holds its first one until released."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[tuple[str, list[str]]] = []
        self.first_started, self.release = threading.Event(), threading.Event()
        self.fail_on = fail_on

    def __call__(self, key, items):
        self.batches.append((key, list(items)))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        if self.fail_on in items:
            raise ValueError(f"cannot run {self.fail_on}")
        return [f"{key}:{item}" for item in items]


def call_while_busy(batcher: MicroBatcher, model: GatedModel, first: tuple, later: list[tuple],
                    settle_s: float = 0.2) -> tuple:
    """Call with `first` (key, item); while the model holds that batch, call with each of `later`; once
    every later caller is making its call, and `settle_s` more (time to queue: a few lines of code),
    release the model. The futures of the first call and of the later ones, all done."""
    calling = threading.Semaphore(0)

    def call(args):
        calling.release()
        return batcher(*args)

    with ThreadPoolExecutor(len(later) + 1) as pool:
        first_call = pool.submit(batcher, *first)
        assert model.first_started.wait(10)
        later_calls = [pool.submit(call, args) for args in later]
        assert all(calling.acquire(timeout=10) for _ in later), "the later callers never called"
        time.sleep(settle_s)
        model.release.set()
    return first_call, later_calls


def test_a_lone_call_runs_at_once_as_a_batch_of_one():
    seen = []
    batcher = MicroBatcher(lambda key, items: seen.append(list(items)) or [i * 2 for i in items])
    assert batcher("m", 21) == 42
    assert seen == [[21]]


def test_calls_that_queue_while_the_model_is_busy_share_the_next_batch():
    model = GatedModel()
    batcher = MicroBatcher(model, max_size=16)
    first, rest = call_while_busy(batcher, model, ("m", "a"), [("m", item) for item in "bcdef"])
    assert first.result() == "m:a"
    assert [f.result() for f in rest] == [f"m:{item}" for item in "bcdef"]  # each gets its own
    assert len(model.batches) == 2  # one forward pass for the five that waited, not five
    assert model.batches[0][1] == ["a"] and sorted(model.batches[1][1]) == list("bcdef")


def test_batches_hold_at_most_max_size_items():
    model = GatedModel()
    batcher = MicroBatcher(model, max_size=3)
    first, rest = call_while_busy(batcher, model, ("m", "x0"), [("m", f"x{i}") for i in range(1, 8)])
    assert [first.result()] + [f.result() for f in rest] == [f"m:x{i}" for i in range(8)]
    assert max(len(items) for _, items in model.batches) <= 3
    assert sorted(item for _, items in model.batches for item in items) == [f"x{i}" for i in range(8)]


def test_different_models_never_share_a_batch():
    model = GatedModel()
    batcher = MicroBatcher(model)
    first, others = call_while_busy(batcher, model, ("m1", "a"), [("m1", "b"), ("m2", "c"), ("m1", "d")])
    assert first.result() == "m1:a"
    assert [f.result() for f in others] == ["m1:b", "m2:c", "m1:d"]
    assert {key: sorted(items) for key, items in model.batches[1:]} == {"m1": ["b", "d"], "m2": ["c"]}


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs():
    model = GatedModel(fail_on="bad")
    batcher = MicroBatcher(model)
    first, shared = call_while_busy(batcher, model, ("m", "a"), [("m", "b"), ("m", "bad")])
    assert first.result() == "m:a"
    for future in shared:
        with pytest.raises(ValueError, match="cannot run bad"):
            future.result()
    assert batcher("m", "c") == "m:c"


def test_max_size_must_be_positive():
    with pytest.raises(ValueError, match="at least one"):
        MicroBatcher(lambda key, items: items, max_size=0)


def test_concurrent_sentiment_calls_match_one_at_a_time(tiny_classifier):
    texts = ["a fine and moving film", "dull", "I did not like the ending at all, it dragged on",
             "wonderful acting", "terrible script and worse direction", "ok"] * 3
    alone = [sentiment.classify_sentiment(t, tiny_classifier) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: sentiment.classify_sentiment(t, tiny_classifier), texts))
    for one, other in zip(alone, together):
        assert one.text == other.text and one.model == other.model
        assert [l.label for l in one.labels] == [l.label for l in other.labels]
        assert [l.score for l in one.labels] == pytest.approx([l.score for l in other.labels], abs=1e-5)
