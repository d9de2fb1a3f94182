"""Tag concurrency limits over HTTP: a limit that is made can be read and deleted."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("tag", [".", ".."])
def test_a_limit_on_tag_dot_or_dot_dot_is_422_when_its_url_could_not_reach_it(
    api: httpx.Client, tag: str
) -> None:
    """``/api/concurrency_limits/..`` reaches the server as ``/api/``: such a limit was
    made, then `legato concurrency-limit delete ..` answered 'Not Found' for ever."""
    answer = api.put("/api/concurrency_limits", json={"tag": tag, "limit": 2})
    assert answer.status_code == 422, answer.text
    assert "body field 'tag'" in answer.json()["detail"]
    assert tag not in [limit["tag"] for limit in api.get("/api/concurrency_limits").json()]


@pytest.mark.parametrize("tag", ["...", ".hidden", "a/../b"])
def test_a_limit_on_a_tag_with_dots_is_made_read_and_deleted(api: httpx.Client, tag: str) -> None:
    made = api.put("/api/concurrency_limits", json={"tag": tag, "limit": 2})
    assert made.status_code == 200, made.text
    path = f"/api/concurrency_limits/{quote(tag, safe='')}"  # as legato's client sends it
    assert api.get(path).json()["tag"] == tag
    assert api.delete(path, headers=JSON).status_code == 204
    assert tag not in [limit["tag"] for limit in api.get("/api/concurrency_limits").json()]
