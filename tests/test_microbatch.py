"""Concurrent calls grouped into batches: who runs with whom, and what each caller gets back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines import sentiment
from pipelines.microbatch import MicroBatcher


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


def wait_for_waiters(batcher: MicroBatcher, key, count: int) -> None:
    """Until `count` items wait in the key's open batch (the callers have queued)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with batcher._lock:
            batch = batcher._open.get(key)
            if batch is not None and len(batch.items) == count:
                return
        time.sleep(0.001)
    raise AssertionError(f"{count} callers never queued")


def test_a_lone_call_runs_at_once_as_a_batch_of_one():
    seen = []
    batcher = MicroBatcher(lambda key, items: seen.append(list(items)) or [i * 2 for i in items])
    assert batcher("m", 21) == 42
    assert seen == [[21]]


def test_calls_that_queue_while_the_model_is_busy_share_the_next_batch():
    model = GatedModel()
    batcher = MicroBatcher(model, max_size=16)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher, "m", "a")
        assert model.first_started.wait(10)
        rest = [pool.submit(batcher, "m", item) for item in "bcdef"]
        wait_for_waiters(batcher, "m", 5)
        model.release.set()
        assert first.result(10) == "m:a"
        assert [f.result(10) for f in rest] == [f"m:{item}" for item in "bcdef"]  # each gets its own
    assert len(model.batches) == 2  # one forward pass for the five that waited, not five
    assert model.batches[0][1] == ["a"] and sorted(model.batches[1][1]) == list("bcdef")


def test_batches_hold_at_most_max_size_items():
    model = GatedModel()
    batcher = MicroBatcher(model, max_size=3)
    with ThreadPoolExecutor(10) as pool:
        first = pool.submit(batcher, "m", "x0")
        assert model.first_started.wait(10)
        rest = [pool.submit(batcher, "m", f"x{i}") for i in range(1, 8)]
        time.sleep(0.2)  # let every caller queue
        model.release.set()
        results = [first.result(10)] + [f.result(10) for f in rest]
    assert results == [f"m:x{i}" for i in range(8)]
    assert max(len(items) for _, items in model.batches) <= 3
    assert sorted(item for _, items in model.batches for item in items) == [f"x{i}" for i in range(8)]


def test_different_models_never_share_a_batch():
    model = GatedModel()
    batcher = MicroBatcher(model)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher, "m1", "a")
        assert model.first_started.wait(10)
        others = [pool.submit(batcher, key, item) for key, item in
                  (("m1", "b"), ("m2", "c"), ("m1", "d"))]
        wait_for_waiters(batcher, "m1", 2)
        model.release.set()
        assert first.result(10) == "m1:a"
        assert [f.result(10) for f in others] == ["m1:b", "m2:c", "m1:d"]
    assert {key: sorted(items) for key, items in model.batches[1:]} == {"m1": ["b", "d"], "m2": ["c"]}


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs():
    model = GatedModel(fail_on="bad")
    batcher = MicroBatcher(model)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher, "m", "a")
        assert model.first_started.wait(10)
        shared = [pool.submit(batcher, "m", item) for item in ("b", "bad")]
        wait_for_waiters(batcher, "m", 2)
        model.release.set()
        assert first.result(10) == "m:a"
        for future in shared:
            with pytest.raises(ValueError, match="cannot run bad"):
                future.result(10)
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
