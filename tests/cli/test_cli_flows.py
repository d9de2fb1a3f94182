"""``legato flows ls`` on the embedded store."""

from __future__ import annotations

import json

from fixtures.cli import Recorded, cli


def test_flows_ls_lists_each_flow_once(recorded: Recorded) -> None:
    result = cli("flows", "ls")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "FIRST", "RUN", "ID"]
    assert [line.split()[0] for line in lines[1:]] == ["broken", "pipeline"]


def test_flows_ls_json(recorded: Recorded) -> None:
    flows = json.loads(cli("flows", "ls", "--json").stdout)
    assert [flow["name"] for flow in flows] == ["broken", "pipeline"]
    assert list(flows[0]) == ["id", "name", "created"]


def test_flows_ls_on_an_empty_store(isolated_home: object) -> None:
    result = cli("flows", "ls")
    assert result.exit_code == 0
    assert "No flows have run yet." in result.stdout
