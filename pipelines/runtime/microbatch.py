"""Group concurrent calls to the same model into one batched call, with no added waiting.

A web app answers each request on its own thread. With a `MicroBatcher`, a request that arrives while
its model is busy joins the batch that runs next instead of waiting for a forward pass of its own:
when the model frees up, everything that queued meanwhile (up to `max_size`) runs as one batch. A
request that finds the model idle runs at once, alone, so a single user waits no longer than before.

Each caller gets its own result, or the error of its batch (callers of one batch asked the same model
with inputs they had already validated, so a batch fails as a whole only for a reason they share, such
as a model that cannot be loaded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Batch(Generic[Item, Result]):
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.results: list[Result] = []
        self.error: BaseException | None = None
        self.done = threading.Event()


class MicroBatcher(Generic[Item, Result]):
    """`batcher(key, item)` returns `run_batch(key, items)[i]` for the item's place in its batch.

    Calls with the same key (a model) share batches; calls with different keys never do. At most one
    batch per key runs at a time: that is what lets the next batch fill while one runs.
    """

    def __init__(self, run_batch: Callable[[Hashable, list[Item]], list[Result]], max_size: int = 16):
        if max_size < 1:
            raise ValueError(f"A batch must hold at least one item; got max_size={max_size}.")
        self.run_batch, self.max_size = run_batch, max_size
        self._lock = threading.Lock()  # guards the open batches
        self._open: dict[Hashable, _Batch] = {}  # per key: the batch still taking items
        self._running: dict[Hashable, threading.Lock] = {}  # per key: held while one of its batches runs

    def __call__(self, key: Hashable, item: Item) -> Result:
        with self._lock:
            batch = self._open.get(key)
            leader = batch is None
            if leader:  # the first item of a new batch: its caller will run it
                batch = self._open[key] = _Batch()
                running = self._running.setdefault(key, threading.Lock())
            index = len(batch.items)
            batch.items.append(item)
            if len(batch.items) >= self.max_size:  # full: later calls start the next batch
                del self._open[key]
        if leader:
            self._lead(key, batch, running)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[index]

    def _lead(self, key: Hashable, batch: _Batch, running: threading.Lock) -> None:
        """Wait for the key's previous batch to finish (this one fills meanwhile), then run this one."""
        with running:
            with self._lock:  # close the batch: from now on new calls start another
                if self._open.get(key) is batch:
                    del self._open[key]
            try:
                results = self.run_batch(key, list(batch.items))
                if len(results) != len(batch.items):
                    raise RuntimeError(f"A batch of {len(batch.items)} gave {len(results)} results.")
                batch.results = results
            except Exception as err:  # every caller of the batch sees it
                batch.error = err
            finally:
                batch.done.set()
