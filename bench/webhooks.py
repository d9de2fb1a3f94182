"""What a webhook costs: a GitHub push made an event, against the same event posted to
``POST /api/events``.

    python bench/webhooks.py [--requests 300] [--out results.json]

Starts a real ``legato server start`` (SQLite, in a temporary folder), creates a
webhook with the GitHub push template of docs/webhooks.md, then sends ``--requests``
pushes one after another (httpx, after warm-up) and as many single-event batches to
``/api/events``; also times the template's rendering alone, in process. Prints JSON on
stdout (medians and p95 in milliseconds; rendering in microseconds), a summary on
stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from support import clean_env, legato_server, say

from legato.event_rules.webhooks import WebhookIdentity, WebhookRequest, render_event

DOCS = Path(__file__).parents[1] / "docs" / "webhooks.md"
WARM_UP = 20


def push_body(n: int) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/etl", "private": False},
        "pusher": {"name": "kim", "email": "kim@example.com"},
        "head_commit": {"id": f"{n:040x}", "message": "Load refunds"},
        "commits": [{"id": f"{n:040x}", "message": "Load refunds", "added": ["a.py"]}],
    }


def timed(count: int, call: Callable[[int], None]) -> list[float]:
    for n in range(WARM_UP):
        call(-n - 1)
    seconds = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        seconds.append(time.perf_counter() - start)
    return seconds


def summary(seconds: list[float], scale: float) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "median": round(statistics.median(ordered) * scale, 3),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1] * scale, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    template = DOCS.read_text().split("```jinja\n", 1)[1].split("```", 1)[0]

    hook = WebhookIdentity(id=str(uuid.uuid4()), name="github-push")
    sample = WebhookRequest(
        body=json.dumps(push_body(1)).encode(),
        content_type="application/json",
        headers=(("X-GitHub-Event", "push"), ("X-GitHub-Delivery", str(uuid.uuid4()))),
    )
    render = timed(args.requests * 10, lambda n: render_event(template, sample, hook) and None)

    with tempfile.TemporaryDirectory() as folder:
        env = clean_env(LEGATO_HOME=str(Path(folder) / "home"))
        with (
            legato_server(env, Path(folder) / "server.log", "--no-worker") as base,
            httpx.Client(base_url=base, timeout=30) as api,
        ):
            made = api.post("/api/webhooks", json={"name": "github-push", "template": template})
            made.raise_for_status()
            path = made.json()["path"]

            def deliver(n: int) -> None:
                headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4())}
                api.post(path, json=push_body(n), headers=headers).raise_for_status()

            def post_event(n: int) -> None:
                event = {
                    "id": str(uuid.uuid4()),
                    "event": "github.push",
                    "resource": {
                        "legato.resource.id": "github.repo.acme/etl",
                        "github.ref": "refs/heads/main",
                    },
                    "related": [
                        {
                            "legato.resource.id": "github.user.kim",
                            "legato.resource.role": "pusher",
                        }
                    ],
                    "payload": {"commits": 1, "head": f"{n:040x}"},
                }
                api.post("/api/events", json=[event]).raise_for_status()

            hooks = timed(args.requests, deliver)
            direct = timed(args.requests, post_event)

    result = {
        "benchmark": "webhooks",
        "python": platform.python_version(),
        "requests": args.requests,
        "render_us": summary(render, 1e6),
        "webhook_ms": summary(hooks, 1e3),
        "post_events_ms": summary(direct, 1e3),
    }
    say(
        f"render {result['render_us']['median']} us; webhook {result['webhook_ms']['median']} ms "
        f"vs POST /api/events {result['post_events_ms']['median']} ms (medians)"
    )
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
