"""The app under load: N concurrent gradio_client clients vs the same calls made directly in Python.

Sides, alternating for each N: **app** (`python app.py` in its own process, a Client per thread);
**direct** (`classify_sentiment` from N threads, as many at once as the app's handler admits, so with its
micro-batching: the gap is the web layer); **direct, one at a time** (what batching buys).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path

import psutil

from bench import checkpoints, common, inputs

CLIENTS = (1, 4, 16)
REQUESTS = {True: 16, False: 32}  # per round, shared out among the N clients
ENDPOINT = "/classify_sentiment"
ALONE = "direct, one at a time"
READY_TIMEOUT_S = 120


class AppProcess:
    """`python app.py` as a user starts it, on a free local port; `started` is just before."""

    def __init__(self, studio_home: Path, log: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = common.environment_for_children(STUDIO_HOME=str(studio_home), GRADIO_SERVER_NAME="127.0.0.1",
                                              GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
        self.url = f"http://127.0.0.1:{port}/"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen([common.PYTHON, "app.py"], cwd=common.REPO_ROOT, stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env)

    def wait_until_served(self) -> float:
        """Seconds from the start until GET / answers 200 (the UI is served)."""
        while time.perf_counter() < self.started + READY_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with code {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"app.py did not serve {self.url} within {READY_TIMEOUT_S} s; see {self.log.name}")

    def rss_mib(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def load_round(call, n_clients: int, texts: list[str], processes: dict[str, list[psutil.Process]]) -> dict:
    """Every text once from `n_clients` threads: requests/s, latencies, CPU ms a request per process group."""
    latencies, outputs = [0.0] * len(texts), [None] * len(texts)
    barrier = threading.Barrier(n_clients + 1)

    def work(client: int) -> None:
        barrier.wait()
        for i in range(client, len(texts), n_clients):
            started = time.perf_counter()
            outputs[i] = call(client, texts[i])
            latencies[i] = time.perf_counter() - started

    def cpu_seconds() -> dict[str, float]:
        return {name: sum(sum(p.cpu_times()[:2]) for p in group) for name, group in processes.items()}

    threads = [threading.Thread(target=work, args=(c,)) for c in range(n_clients)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_seconds()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_ms = {name: (seconds - cpu_before[name]) * 1000 / len(texts) for name, seconds in cpu_seconds().items()}
    return {"rps": len(texts) / elapsed, "latencies": latencies, "outputs": outputs, "cpu_ms_per_request": cpu_ms}


def via_app(clients: list, client: int, text: str) -> str:
    _, result, _ = clients[client].predict(text, checkpoints.CLASSIFIER, api_name=ENDPOINT)
    return result["labels"][0]["label"]


def direct(slots: threading.Semaphore, batched: bool, client: int, text: str) -> str:
    from pipelines.tasks import sentiment

    with slots:  # as many at once as the app lets into the handler
        if batched:  # concurrent calls share forward passes, as in the app
            return sentiment.classify_sentiment(text, checkpoints.CLASSIFIER).labels[0].label
        return sentiment.classify_lines([text], checkpoints.CLASSIFIER)[0].labels[0].label


def summarise(n: int, rounds: dict) -> dict:
    sides = {}
    for side, results in rounds.items():
        cpu = {name: statistics.median(r["cpu_ms_per_request"][name] for r in results)
               for name in results[0]["cpu_ms_per_request"]}
        sides[side] = {"rps": statistics.median(r["rps"] for r in results), "rps_rounds": [r["rps"] for r in results],
                       "latency_s": common.stats([s for r in results for s in r["latencies"]]),
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


def run(quick: bool) -> dict:
    import app
    from gradio_client import Client

    from ui import sentiment_tab

    common.heading(f"The app under load: gradio_client clients vs direct calls ({ENDPOINT})")
    home = checkpoints.use_bench_home()
    checkpoints.build_all()
    texts, rounds, slots = inputs.reviews(REQUESTS[quick], offset=300), 2 if quick else 3, sentiment_tab.CONCURRENT_SINGLE_TEXTS
    server = AppProcess(home, common.RESULTS_DIR / "logs" / "app_load.log")
    try:
        print(f"  UI served after {server.wait_until_served():.1f} s; {len(texts)} requests per round, {rounds} "
              f"rounds; {slots} requests at once in the handler (app and direct), {app.CONCURRENCY_LIMIT} one at a "
              f"time", flush=True)
        # ssl_verify=False: plain http verifies nothing anyway, but True builds an SSL context from the CA
        # bundle for every HTTP request: about 65 ms of client CPU a call, 10x the server's.
        clients = [Client(server.url, verbose=False, ssl_verify=False) for _ in range(max(CLIENTS))]
        me = psutil.Process()
        at_app, here = {"server": [psutil.Process(server.process.pid)], "clients": [me]}, {"process": [me]}
        results = []
        for n in CLIENTS:
            cases = {"app": partial(load_round, partial(via_app, clients), n, texts, at_app),
                     "direct": partial(load_round, partial(direct, threading.Semaphore(slots), True), n, texts, here),
                     ALONE: partial(load_round, partial(direct, threading.Semaphore(app.CONCURRENCY_LIMIT), False),
                                    n, texts, here)}
            results.append(summarise(n, common.interleaved(cases, rounds, warmup=1 if n == CLIENTS[0] else 0)))
        rss = server.rss_mib()
    finally:
        server.stop()
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
                             f"{at_16['batching_gain']:.2f}x the requests/s of one forward pass a call (direct calls)")]
    return {"endpoint": ENDPOINT, "model": checkpoints.CLASSIFIER, "requests_per_round": len(texts),
            "rounds": rounds, "concurrency_limit": app.CONCURRENCY_LIMIT, "handler_slots": slots,
            "app_rss_mib": rss, "ceiling_app_vs_direct": ceiling, "results": results, "targets": targets}
