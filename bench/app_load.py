"""The app under load: N concurrent gradio_client clients vs the same calls made directly in Python.

The app runs as `python app.py` (its own process, the bench's models folder); N threads, each with
its own `gradio_client.Client`, send sentiment requests (real review snippets, the MiniLM classifier)
until a fixed number of requests is served. The baseline makes the same calls to
`pipelines.sentiment` from N threads in this process, through the same number of concurrent slots as
the app's queue allows (app.CONCURRENCY_LIMIT): what is left between the two is the web layer.
A third side, for N > 1, groups the concurrent direct calls into one forward pass (a small
micro-batcher, as Gradio's `batch=True` would): what batching alone could buy on this machine.
Rounds alternate the sides for each N. The clients share the machine's 2 cores with the server,
as they would on a laptop running both.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
from functools import partial

from bench import checkpoints, common, inputs
from bench.app_process import AppProcess

CLIENTS = (1, 4, 16)
REQUESTS = {True: 16, False: 32}  # per round, shared out among the N clients
ENDPOINT = "/classify_sentiment"


def load_round(call, n_clients: int, texts: list[str]) -> dict:
    """Serve every text once with `n_clients` threads; requests/s over the round and each latency."""
    latencies, outputs = [0.0] * len(texts), [None] * len(texts)
    barrier = threading.Barrier(n_clients + 1)

    def work(client: int) -> None:
        barrier.wait()
        for i in range(client, len(texts), n_clients):
            started = time.perf_counter()
            outputs[i] = call(client, texts[i])
            latencies[i] = time.perf_counter() - started

    threads = [threading.Thread(target=work, args=(c,)) for c in range(n_clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return {"rps": len(texts) / (time.perf_counter() - started), "latencies": latencies, "outputs": outputs}


def via_app(clients: list, client: int, text: str) -> str:
    _, result, _ = clients[client].predict(text, checkpoints.CLASSIFIER, api_name=ENDPOINT)
    return result["labels"][0]["label"]


def direct(slots: threading.Semaphore, client: int, text: str) -> str:
    from pipelines import sentiment

    with slots:  # as many at once as the app's queue runs
        return sentiment.classify_sentiment(text, checkpoints.CLASSIFIER).labels[0].label


class MicroBatcher:
    """Calls that arrive within `wait_s` of the first waiting one run as one batch of at most `size`."""

    def __init__(self, run_batch, size: int = 16, wait_s: float = 0.005):
        self.run_batch, self.size, self.wait_s = run_batch, size, wait_s
        self.waiting: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._serve, daemon=True)
        self.worker.start()

    def __call__(self, client: int, text: str):
        slot = {"text": text, "done": threading.Event()}
        self.waiting.put(slot)
        slot["done"].wait()
        if "error" in slot:
            raise slot["error"]
        return slot["result"]

    def _serve(self) -> None:
        while (first := self.waiting.get()) is not None:
            batch, deadline = [first], time.perf_counter() + self.wait_s
            while len(batch) < self.size and (left := deadline - time.perf_counter()) > 0:
                try:
                    batch.append(self.waiting.get(timeout=left))
                except queue.Empty:
                    break
            try:
                for slot, result in zip(batch, self.run_batch([slot["text"] for slot in batch])):
                    slot["result"] = result
            except Exception as err:  # hand the error to every caller of the batch
                for slot in batch:
                    slot["error"] = err
            for slot in batch:
                slot["done"].set()

    def close(self) -> None:
        self.waiting.put(None)
        self.worker.join()


def direct_batch(texts: list[str]) -> list[str]:
    from pipelines import sentiment

    return [r.labels[0].label for r in sentiment.classify_lines(texts, checkpoints.CLASSIFIER)]


def summarise(n: int, rounds: dict) -> dict:
    sides = {}
    for side, results in rounds.items():
        sides[side] = {"rps": statistics.median(r["rps"] for r in results), "rps_rounds": [r["rps"] for r in results],
                       "latency_s": common.Stats.of([s for r in results for s in r["latencies"]]).to_dict()}
    app_rounds, direct_rounds = rounds["app"], rounds["direct"]
    agree = [a == d for a, d in zip(app_rounds[-1]["outputs"], direct_rounds[-1]["outputs"])]
    batching = (common.median_ratio(sides["direct batched"]["rps_rounds"], sides["direct"]["rps_rounds"])
                if "direct batched" in sides else None)
    return {"clients": n, "sides": sides, "batching_gain": batching,
            "ratio_app_vs_direct": common.median_ratio(sides["app"]["rps_rounds"], sides["direct"]["rps_rounds"]),
            "overhead_p50_ms": (sides["app"]["latency_s"]["p50"] - sides["direct"]["latency_s"]["p50"]) * 1000,
            "same_labels": sum(agree) / len(agree)}


def run(quick: bool) -> dict:
    import app
    from gradio_client import Client

    common.heading(f"The app under load: gradio_client clients vs direct calls ({ENDPOINT})")
    home = checkpoints.use_bench_home()
    checkpoints.build_all()
    texts = inputs.reviews(REQUESTS[quick], offset=300)
    rounds = 2 if quick else 3
    slots = threading.Semaphore(app.CONCURRENCY_LIMIT)
    batcher = MicroBatcher(direct_batch, size=max(CLIENTS))
    server = AppProcess(home, common.RESULTS_DIR / "logs" / "app_load.log")
    try:
        print(f"  UI served after {server.wait_until_served():.1f} s; {len(texts)} requests per round, "
              f"{rounds} rounds, concurrency limit {app.CONCURRENCY_LIMIT}", flush=True)
        clients = [Client(server.url, verbose=False) for _ in range(max(CLIENTS))]
        results = []
        for n in CLIENTS:
            cases = {"app": partial(load_round, partial(via_app, clients), n, texts),
                     "direct": partial(load_round, partial(direct, slots), n, texts)}
            if n > 1:
                cases["direct batched"] = partial(load_round, batcher, n, texts)
            results.append(summarise(n, common.interleaved(cases, rounds, warmup=1 if n == CLIENTS[0] else 0)))
        rss = server.rss_mib()
    finally:
        server.stop()
        batcher.close()
    rows = [[r["clients"], r["sides"]["app"]["rps"], r["sides"]["direct"]["rps"], r["ratio_app_vs_direct"],
             r["sides"]["app"]["latency_s"]["p50"] * 1000, r["sides"]["app"]["latency_s"]["p95"] * 1000,
             r["sides"]["direct"]["latency_s"]["p50"] * 1000, r["sides"]["direct"]["latency_s"]["p95"] * 1000,
             r["overhead_p50_ms"], r["batching_gain"] or "", r["same_labels"]] for r in results]
    common.print_table(["clients", "app req/s", "direct req/s", "app/direct", "app p50 ms", "app p95 ms",
                        "direct p50 ms", "direct p95 ms", "overhead p50 ms", "batched/direct",
                        "same labels"], rows)
    at_16 = next(r for r in results if r["clients"] == 16)
    targets = [common.check("app under 16 clients", ">= 90% of direct requests/s", at_16["ratio_app_vs_direct"], 0.9,
                            f"{at_16['ratio_app_vs_direct']:.0%} ({at_16['sides']['app']['rps']:.3g} vs "
                            f"{at_16['sides']['direct']['rps']:.3g} req/s; web overhead "
                            f"{results[0]['overhead_p50_ms']:.0f} ms a request with 1 client)"),
               common.Target("batching 16 concurrent requests", "measured (issue: 1.23x on this CPU)", common.INFO,
                             f"{at_16['batching_gain']:.2f}x the direct requests/s")]
    return {"endpoint": ENDPOINT, "model": checkpoints.CLASSIFIER, "requests_per_round": len(texts),
            "rounds": rounds, "concurrency_limit": app.CONCURRENCY_LIMIT, "app_rss_mib": rss,
            "results": results, "targets": targets}
