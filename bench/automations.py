"""How fast automations react, and how many events they can match.

    python bench/automations.py [--samples 20] [--out results.json]

Three measurements, each against bare numbers taken in the same run:

- ``event_to_webhook``: a real ``legato server start`` (fresh SQLite home) holds an
  automation that calls a local HTTP receiver on ``bench.ping``; the time from posting
  the event (``POST /api/events``) to the receiver getting the call, median of
  ``--samples`` (target <= 200 ms).
- ``event_to_run``: the same with an automation that runs a deployment: the time to the
  run being stored (median, target <= 200 ms) and to its first log line (median, target
  <= 1.5 s; the server's own worker runs it).
- ``matching``: 100 automations with wildcard triggers (``acme.<n>.*``, related
  resources, for_each) evaluated in-process against 20,000 events: events per second
  (target >= 2,000 on 2 cores).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from support import clean_env, legato, legato_server

FLOW = """
from legato import flow, get_run_logger


@flow
def pinged(n: int = 0):
    get_run_logger().info("pinged %s", n)
"""


class Receiver(http.server.ThreadingHTTPServer):
    """Records when each call arrived, by the ``n`` in its JSON body."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.got = threading.Condition()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        server: Receiver = self.server  # type: ignore[assignment]
        with server.got:
            server.arrived[int(json.loads(body)["n"])] = time.perf_counter()
            server.got.notify_all()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _post(url: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def _get(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}{path}", timeout=30) as answer:
        return json.loads(answer.read())


def _ping(url: str, name: str, n: int) -> float:
    event = {"event": name, "resource": {"legato.resource.id": f"bench.{n}"}, "payload": {"n": n}}
    start = time.perf_counter()
    _post(url, "/api/events", [event])
    return start


def event_to_webhook(url: str, samples: int) -> dict[str, Any]:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    _post(
        url,
        "/api/automations",
        {
            "name": "ping-webhook",
            "trigger": {"expect": ["bench.ping"]},
            "actions": [
                {"type": "call-webhook", "url": hook, "body": {"n": "{{ event.payload.n }}"}}
            ],
        },
    )
    times = []
    for n in range(samples):
        start = _ping(url, "bench.ping", n)
        with receiver.got:
            receiver.got.wait_for(lambda n=n: n in receiver.arrived, timeout=30)
        times.append(receiver.arrived[n] - start)
        time.sleep(0.05)
    receiver.shutdown()
    median = statistics.median(times)
    return {
        "samples": samples,
        "median_ms": round(median * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "target_ms": 200,
        "meets_target": median <= 0.2,
    }


def event_to_run(url: str, env: dict[str, str], folder: Path, samples: int) -> dict[str, Any]:
    (folder / "flows.py").write_text(FLOW)
    legato(env, folder, "deploy", "flows.py:pinged", "--name", "bench", "--pool", "default")
    _post(
        url,
        "/api/automations",
        {
            "name": "ping-run",
            "trigger": {"expect": ["bench.run"]},
            "actions": [
                {
                    "type": "run-deployment",
                    "deployment": "pinged/bench",
                    "parameters": {"n": "{{ event.payload.n }}"},
                }
            ],
        },
    )
    to_run: list[float] = []
    to_log: list[float] = []
    for n in range(samples):
        start = _ping(url, "bench.run", n)
        run_id = None
        while run_id is None and time.perf_counter() - start < 30:
            firings = _get(url, "/api/automations/ping-run/firings?limit=1")
            done = [
                f
                for f in firings
                if f["actions"]
                and f["actions"][0]["status"] == "done"
                and f["actions"][0]["result"]["parameters"]["n"] == n
            ]
            if done:
                run_id = done[0]["actions"][0]["result"]["flow_run_id"]
                to_run.append(time.perf_counter() - start)
            else:
                time.sleep(0.005)
        while run_id and time.perf_counter() - start < 60:
            if _get(url, f"/api/flow_runs/{run_id}/logs?limit=1"):
                to_log.append(time.perf_counter() - start)
                break
            time.sleep(0.01)
    run_median = statistics.median(to_run)
    log_median = statistics.median(to_log)
    return {
        "samples": samples,
        "event_to_run_median_ms": round(run_median * 1000, 1),
        "target_run_ms": 200,
        "event_to_first_log_median_s": round(log_median, 3),
        "target_first_log_s": 1.5,
        "meets_target": run_median <= 0.2 and log_median <= 1.5,
    }


def matching(events: int = 20_000, automations: int = 100) -> dict[str, Any]:
    from legato.event_rules.triggers import Buckets, SeenEvent, on_event
    from legato.schemas.automations import AutomationSpec

    specs = [
        AutomationSpec.model_validate(
            {
                "name": f"a{n}",
                "trigger": {
                    "expect": [f"acme.{n % 50}.*", "acme.*.failed"],
                    "match": {"legato.resource.id": f"acme.thing.{n % 7}*"},
                    "match_related": {"legato.resource.role": "team"},
                    "for_each": ["legato.resource.id"],
                    "threshold": 3,
                    "within": 60,
                },
                "actions": [{"type": "pause-work-pool", "work_pool": "p"}],
            }
        )
        for n in range(automations)
    ]
    buckets: list[Buckets] = [{} for _ in specs]
    feed = [
        SeenEvent(
            id=str(n),
            event=f"acme.{n % 60}.{'failed' if n % 5 == 0 else 'done'}",
            occurred=1000.0 + n * 0.001,
            resource={"legato.resource.id": f"acme.thing.{n % 13}"},
            related=[{"legato.resource.id": "acme.team.a", "legato.resource.role": "team"}],
        )
        for n in range(events)
    ]
    start = time.perf_counter()
    fired = 0
    for event in feed:
        for spec, held in zip(specs, buckets, strict=True):
            fired += len(on_event(spec.trigger, event, held))
    seconds = time.perf_counter() - start
    return {
        "events": events,
        "automations": automations,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "firings": fired,
        "target_events_per_s": 2000,
        "meets_target": events / seconds >= 2000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="legato-bench-automations-") as root:
        folder = Path(root)
        env = clean_env(LEGATO_HOME=str(folder / "home"))
        with legato_server(env, folder / "server.log", "--no-scheduler") as url:
            client_env = dict(env, LEGATO_API_URL=url)
            report = {
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "statistic": "median of samples",
                "event_to_webhook": event_to_webhook(url, args.samples),
                "event_to_run": event_to_run(url, client_env, folder, args.samples),
                "matching": matching(),
            }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
