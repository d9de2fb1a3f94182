"""Events that arrived while no server was evaluating (sent by code run embedded) are
evaluated when a server starts, and a proactive deadline that passed meanwhile fires
then, marked late."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fixtures.commands import legato_env, run_legato
from fixtures.servers import running_server
from fixtures.waiting import wait_until

SEND = """
import sys
from legato import emit_event

for name in sys.argv[1:]:
    emit_event(name, {"legato.resource.id": "acme.job.1"})
"""


def test_events_sent_while_no_server_ran_are_evaluated_when_one_starts(tmp_path: Path) -> None:
    env = legato_env(tmp_path / "home")  # embedded: no server yet
    run_legato("work-pool", "create", "seen", env=env, check=True)
    run_legato("work-pool", "create", "late", env=env, check=True)
    (tmp_path / "reactive.yaml").write_text(
        "name: seen-offline\ntrigger: {expect: [acme.job.done]}\n"
        "actions: [{type: pause-work-pool, work_pool: seen}]\n"
    )
    (tmp_path / "proactive.yaml").write_text(
        "name: missed-offline\n"
        "trigger: {posture: Proactive, after: [acme.job.started], expect: [acme.job.finished],"
        " within: 1}\n"
        "actions: [{type: pause-work-pool, work_pool: late}]\n"
    )
    for name in ("reactive", "proactive"):
        run_legato("automation", "create", "-f", f"{name}.yaml", env=env, cwd=tmp_path, check=True)
    time.sleep(1.5)  # past the automations' creation by more than the clock skew
    (tmp_path / "send.py").write_text(SEND)
    subprocess.run(
        [sys.executable, "send.py", "acme.job.done", "acme.job.started"],
        cwd=tmp_path, env=env, check=True, timeout=60,
    )  # fmt: skip
    time.sleep(2)  # the proactive window ends with no server running
    with running_server(tmp_path / "home", tmp_path / "server.log"):

        def firings(name: str) -> list[dict[str, object]]:
            shown = run_legato("automation", "firings", name, "--json", env=env)
            return [f for f in json.loads(shown.stdout) if f["kind"] == "triggered"]

        [seen] = wait_until(lambda: firings("seen-offline"), "the reactive firing", timeout=30)
        [missed] = wait_until(lambda: firings("missed-offline"), "the late firing", timeout=30)
        assert missed["late"] is True
        assert seen["late"] is False
        pools = wait_until(
            lambda: (
                [
                    p["name"]
                    for p in json.loads(run_legato("work-pool", "ls", "--json", env=env).stdout)
                    if p["paused"]
                ]
                if len(
                    [
                        p
                        for p in json.loads(run_legato("work-pool", "ls", "--json", env=env).stdout)
                        if p["paused"]
                    ]
                )
                == 2
                else None
            ),
            "both pools paused",
        )
        assert sorted(pools) == ["late", "seen"]
