"""The app under load: N concurrent gradio_client clients vs the same calls made directly in Python.

The app runs as `python app.py` (its own process, the bench's models folder); N threads, each with
its own `gradio_client.Client`, send single-text sentiment requests (real review snippets, the MiniLM
classifier) until a fixed number of requests is served. Three sides, alternating rounds for each N:
- **app**: through the web layer;
- **direct**: the same `pipelines.tasks.sentiment.classify_sentiment` calls from N threads in this process,
  through as many concurrent slots as the app lets into that handler: the same batching as the app
  (concurrent calls for one model share forward passes, `pipelines.runtime.microbatch`), so what is left
  between app and direct is the web layer;
- **direct, one at a time**: each call its own forward pass, through the app's default number of
  slots: what the app did before it batched, and so what batching buys.
Process CPU time is taken around each round: the server's and the clients' for the app, this
process's for the direct sides, so the web layer's cost is also read as CPU per request. The clients
share the machine's 2 cores with the server, as they would on a laptop running both.
"""

from __future__ import annotations

import statistics
import threading
import time
from functools import partial

import psutil

from bench import checkpoints, common, inputs
from bench.app_process import AppProcess

CLIENTS = (1, 4, 16)
REQUESTS = {True: 16, False: 32}  # per round, shared out among the N clients
ENDPOINT = "/classify_sentiment"


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def load_round(call, n_clients: int, texts: list[str], processes: dict[str, list[psutil.Process]]) -> dict:
    """Serve every text once with `n_clients` threads: requests/s, each latency, and the CPU seconds
    per request that each named group of `processes` spent over the round."""
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
    cpu_before = {name: cpu_seconds(group) for name, group in processes.items()}
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_ms = {name: (cpu_seconds(group) - cpu_before[name]) * 1000 / len(texts) for name, group in processes.items()}
    return {"rps": len(texts) / elapsed, "latencies": latencies, "outputs": outputs, "cpu_ms_per_request": cpu_ms}


def via_app(clients: list, client: int, text: str) -> str:
    _, result, _ = clients[client].predict(text, checkpoints.CLASSIFIER, api_name=ENDPOINT)
    return result["labels"][0]["label"]


def direct(slots: threading.Semaphore, client: int, text: str) -> str:
    from pipelines.tasks import sentiment

    with slots:  # as many at once as the app lets into the handler
        return sentiment.classify_sentiment(text, checkpoints.CLASSIFIER).labels[0].label


def direct_alone(slots: threading.Semaphore, client: int, text: str) -> str:
    from pipelines.tasks import sentiment

    with slots:
        return sentiment.classify_lines([text], checkpoints.CLASSIFIER)[0].labels[0].label


def summarise(n: int, rounds: dict) -> dict:
    sides = {}
    for side, results in rounds.items():
        cpu = {name: statistics.median(r["cpu_ms_per_request"][name] for r in results)
               for name in results[0]["cpu_ms_per_request"]}
        sides[side] = {"rps": statistics.median(r["rps"] for r in results), "rps_rounds": [r["rps"] for r in results],
                       "latency_s": common.Stats.of([s for r in results for s in r["latencies"]]).to_dict(),
                       "cpu_ms_per_request": cpu}
    agree = [a == d for a, d in zip(rounds["app"][-1]["outputs"], rounds["direct"][-1]["outputs"])]
    app_cpu, direct_cpu = sides["app"]["cpu_ms_per_request"], sides["direct"]["cpu_ms_per_request"]["process"]
    return {"clients": n, "sides": sides,
            "batching_gain": common.median_ratio(sides["direct"]["rps_rounds"], sides[ALONE]["rps_rounds"]),
            "ratio_app_vs_direct": common.median_ratio(sides["app"]["rps_rounds"], sides["direct"]["rps_rounds"]),
            "overhead_p50_ms": (sides["app"]["latency_s"]["p50"] - sides["direct"]["latency_s"]["p50"]) * 1000,
            # the web layer's CPU a request: the server's, less what the same call costs directly
            "web_cpu_ms": app_cpu["server"] - direct_cpu, "client_cpu_ms": app_cpu["clients"],
            "direct_cpu_ms": direct_cpu, "same_labels": sum(agree) / len(agree)}


ALONE = "direct, one at a time"


def run(quick: bool) -> dict:
    import app
    from gradio_client import Client

    from ui import sentiment_tab

    common.heading(f"The app under load: gradio_client clients vs direct calls ({ENDPOINT})")
    home = checkpoints.use_bench_home()
    checkpoints.build_all()
    texts = inputs.reviews(REQUESTS[quick], offset=300)
    rounds = 2 if quick else 3
    handler_slots = sentiment_tab.CONCURRENT_SINGLE_TEXTS
    server = AppProcess(home, common.RESULTS_DIR / "logs" / "app_load.log")
    try:
        print(f"  UI served after {server.wait_until_served():.1f} s; {len(texts)} requests per round, "
              f"{rounds} rounds; {handler_slots} requests at once in the handler (app and direct), "
              f"{app.CONCURRENCY_LIMIT} one at a time", flush=True)
        # ssl_verify=False: the app is on plain http here, so nothing is verified either way, but with
        # True gradio_client builds a fresh SSL context from the CA bundle for every HTTP request it
        # makes (two a call): about 65 ms of client CPU a request, 10x what the server spends on it.
        clients = [Client(server.url, verbose=False, ssl_verify=False) for _ in range(max(CLIENTS))]
        me, server_process = psutil.Process(), psutil.Process(server.process.pid)
        at_app, here = {"server": [server_process], "clients": [me]}, {"process": [me]}
        results = []
        for n in CLIENTS:
            cases = {"app": partial(load_round, partial(via_app, clients), n, texts, at_app),
                     "direct": partial(load_round, partial(direct, threading.Semaphore(handler_slots)), n, texts,
                                       here),
                     ALONE: partial(load_round, partial(direct_alone, threading.Semaphore(app.CONCURRENCY_LIMIT)),
                                    n, texts, here)}
            results.append(summarise(n, common.interleaved(cases, rounds, warmup=1 if n == CLIENTS[0] else 0)))
        rss = server.rss_mib()
    finally:
        server.stop()
    rows = [[r["clients"], r["sides"]["app"]["rps"], r["sides"]["direct"]["rps"], r["ratio_app_vs_direct"],
             r["sides"]["app"]["latency_s"]["p50"] * 1000, r["sides"]["app"]["latency_s"]["p95"] * 1000,
             r["sides"]["direct"]["latency_s"]["p50"] * 1000, r["overhead_p50_ms"], r["direct_cpu_ms"],
             r["web_cpu_ms"], r["client_cpu_ms"], r["batching_gain"], r["same_labels"]] for r in results]
    common.print_table(["clients", "app req/s", "direct req/s", "app/direct", "app p50 ms", "app p95 ms",
                        "direct p50 ms", "overhead p50 ms", "model CPU ms/req", "web CPU ms/req",
                        "client CPU ms/req", "batched/alone", "same labels"], rows)
    at_16 = next(r for r in results if r["clients"] == 16)
    web_share = at_16["web_cpu_ms"] / (at_16["web_cpu_ms"] + at_16["direct_cpu_ms"])
    # Were the server's web layer free, the clients' own CPU on the same cores would still cap the ratio.
    ceiling = at_16["direct_cpu_ms"] / (at_16["direct_cpu_ms"] + at_16["client_cpu_ms"])
    targets = [common.check("app under 16 clients", ">= 90% of direct requests/s (same batching)",
                            at_16["ratio_app_vs_direct"], 0.9,
                            f"{at_16['ratio_app_vs_direct']:.0%} ({at_16['sides']['app']['rps']:.3g} vs "
                            f"{at_16['sides']['direct']['rps']:.3g} req/s); the web layer took "
                            f"{at_16['web_cpu_ms']:.1f} ms of server CPU a request ({web_share:.0%} of the "
                            f"server's), the clients {at_16['client_cpu_ms']:.1f} ms, which alone would cap it near "
                            f"{ceiling:.0%} on these shared cores"),
               common.Target("batching 16 concurrent requests", "measured (issue: 1.23x on this CPU)", common.INFO,
                             f"{at_16['batching_gain']:.2f}x the requests/s of one forward pass a call "
                             f"(direct calls)")]
    return {"endpoint": ENDPOINT, "model": checkpoints.CLASSIFIER, "requests_per_round": len(texts),
            "rounds": rounds, "concurrency_limit": app.CONCURRENCY_LIMIT, "handler_slots": handler_slots,
            "app_rss_mib": rss, "ceiling_app_vs_direct": ceiling, "results": results, "targets": targets}
