"""A webhook's template, pure: what it sees of a request, the event it makes, and every
way it can refuse one (with the reason a sender is answered)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from legato.event_rules.webhooks import (
    MAX_RENDERED_CHARS,
    MAX_TEMPLATE_CHARS,
    WebhookError,
    WebhookIdentity,
    WebhookRequest,
    check_template,
    event_from_text,
    render_event,
    request_context,
)

HOOK = WebhookIdentity(id="0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e", name="github")
BASE = '"resource": {"legato.resource.id": "acme.1"}'


def _context(body: bytes, content_type: str | None = None, **more: Any) -> dict[str, Any]:
    return request_context(WebhookRequest(body=body, content_type=content_type, **more), HOOK)


@pytest.mark.parametrize(
    ("body", "content_type", "parsed"),
    [
        (b'{"a": [1, 2]}', "application/json", {"a": [1, 2]}),
        (b'{"a": 1}', "application/vnd.github+json; charset=utf-8", {"a": 1}),
        (b'{"a": 1}', "APPLICATION/JSON", {"a": 1}),
        (b"a=1&b=x+y&a=2&c=", "application/x-www-form-urlencoded", {"a": "1", "b": "x y", "c": ""}),
        (b'{"a": 1}', "text/plain", '{"a": 1}'),
        (b"hello", None, "hello"),
        (b"", "application/json", None),
        (b"  \n", "application/json", None),
        ("caf\u00e9".encode("latin-1"), "text/plain; charset=latin-1", "caf\u00e9"),
    ],
    ids=[
        "json",
        "vendor-json",
        "upper-case",
        "form",
        "text",
        "no-type",
        "empty",
        "blank",
        "latin1",
    ],
)
def test_the_body_is_parsed_by_its_content_type(
    body: bytes, content_type: str | None, parsed: Any
) -> None:
    context = _context(body, content_type)
    assert context["body"] == parsed
    assert context["raw_body"] == body.decode("latin-1" if b"\xe9" in body else "utf-8")


def test_headers_are_lower_case_joined_and_never_credentials() -> None:
    context = _context(
        b"",
        headers=(
            ("X-GitHub-Event", "push"),
            ("Accept", "a"),
            ("accept", "b"),
            ("Authorization", "Bearer lgk_secret"),
            ("Cookie", "session=1"),
        ),
        query=(("source", "gh"), ("source", "other"), ("empty", "")),
    )
    assert context["headers"] == {"x-github-event": "push", "accept": "a, b"}
    assert context["query"] == {"source": "gh", "empty": ""}
    assert context["webhook"] == {"id": HOOK.id, "name": "github"}


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        (b"\xff", "text/plain", "is not utf-8 text (byte 0"),
        (b'{"a": ', "application/json", "is not valid JSON"),
        (b"[NaN]", "application/json", "NaN is not JSON"),
        (b"[Infinity]", "application/json", "Infinity is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "nests too deeply"),
        (b"{}", "application/json; charset=nope", "charset 'nope'"),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_saying_why(
    body: bytes, content_type: str, named: str
) -> None:
    with pytest.raises(WebhookError, match=named.replace("(", r"\(")):
        _context(body, content_type)


def test_the_event_names_the_webhook_as_a_related_resource() -> None:
    template = (
        '{"event": "github.{{ headers["x-github-event"] }}", '
        '"resource": {"legato.resource.id": "github.repo.{{ body.repo }}"}, '
        '"related": [{"legato.resource.id": "github.user.{{ body.user }}", '
        '"legato.resource.role": "pusher"}], '
        '"payload": {"n": {{ body.n }}, "q": {{ query | tojson }}}}'
    )
    request = WebhookRequest(
        body=b'{"repo": "acme/etl", "user": "kim", "n": 3}',
        content_type="application/json",
        headers=(("X-GitHub-Event", "push"),),
        query=(("a", "1"),),
    )
    event = render_event(template, request, HOOK)
    assert event.event == "github.push"
    assert event.resource == {"legato.resource.id": "github.repo.acme/etl"}
    assert event.payload == {"n": 3, "q": {"a": "1"}}
    assert event.related == [
        {"legato.resource.id": "github.user.kim", "legato.resource.role": "pusher"},
        {
            "legato.resource.id": f"legato.webhook.{HOOK.id}",
            "legato.resource.role": "webhook",
            "legato.resource.name": "github",
        },
    ]
    assert event.id is None and event.occurred is None


def test_optional_fields_and_json_in_form_fields() -> None:
    template = (
        '{"event": "acme.{{ body.kind | default("ping") }}", ' + BASE + ", "
        '"payload": {"inner": {{ (body.payload | from_json).x | tojson }}, '
        '"has_y": {{ (body.y is defined) | tojson }}}}'
    )
    request = WebhookRequest(
        body=b"payload=%7B%22x%22%3A+%5B1%5D%7D", content_type="application/x-www-form-urlencoded"
    )
    event = render_event(template, request, HOOK)
    assert event.event == "acme.ping"
    assert event.payload == {"inner": [1], "has_y": False}


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ('{"event": "a",\n' + BASE + ',\n"payload": {"x": {{ body.missing }}}}', "on line 3"),
        ("{{ body.__class__ }}", "unsafe"),
        ("{{ body.update({'a': 1}) }}", "unsafe"),
        ("{{ 'x' * 10**7 }}", "past the limit"),
        ("{{ [1] * 10**7 }}", "past the limit"),
        ("{{ 7 ** 100000 }}", "exponent larger than"),
        ("{% for i in range(99999) %}{{ 'abcdefgh' }}{% endfor %}", "more than"),
        ("{{ range(10**9) | list }}", "Range too big"),
        ("{{ 1 / 0 }}", "division by zero"),
        ('{"event": "a", ' + BASE + ", x}", "did not render JSON"),
        ('{"event": "a b", ' + BASE + "}", "event: String should match pattern"),
        ('{"event": "legato.x", ' + BASE + "}", "legato's own"),
        ('{"event": "a", ' + BASE + ', "id": "not-a-uuid"}', "id: Input should be a valid UUID"),
        ('{"event": "a", ' + BASE + ', "extra": 1}', "extra: Extra inputs"),
        ('{"event": "a", ' + BASE + ', "payload": [1]}', "payload: Input should be a valid dict"),
        ('{"event": "a", "resource": {}}', "legato.resource.id"),
        ('"just text"', "a JSON str, not an object"),
        ("{{ body | from_json }}", "from_json takes text, not dict"),
        ("{{ raw_body[1:] | from_json }}", "from_json is not valid JSON"),
    ],
)
def test_a_template_that_fails_on_a_request_says_why(template: str, named: str) -> None:
    request = WebhookRequest(body=b'{"a": 1}', content_type="application/json")
    with pytest.raises(WebhookError, match=named.replace("(", r"\(")):
        render_event(template, request, HOOK)


def test_the_rendered_text_is_capped_while_it_is_made() -> None:
    template = "{% for i in range(99999) %}{{ body }}{% endfor %}"
    request = WebhookRequest(body=b"x" * 1000, content_type="text/plain")
    with pytest.raises(WebhookError, match=str(MAX_RENDERED_CHARS)):
        render_event(template, request, HOOK)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '{\n  "event": "a",\n  "resource": {{ body.x }\n}',
            "syntax error on line 3: unexpected '}'",
        ),
        ("{% if %}", "syntax error on line 1"),
        ("{% for x in y %}", "syntax error on line 1"),
        ("   \n", "the template is empty"),
        ("x" * (MAX_TEMPLATE_CHARS + 1), f"at most {MAX_TEMPLATE_CHARS}"),
        ("a\x00b", "NUL"),
    ],
)
def test_a_template_that_cannot_compile_is_refused_naming_the_line(text: str, named: str) -> None:
    with pytest.raises(WebhookError, match=named):
        check_template(text)


def test_a_quoted_value_keeps_the_json_valid() -> None:
    template = '{"event": "a", ' + BASE + ', "payload": {"say": {{ body.say | tojson }}}}'
    said = 'he said "</script>" \\ \n'
    request = WebhookRequest(
        body=json.dumps({"say": said}).encode(), content_type="application/json"
    )
    assert render_event(template, request, HOOK).payload == {"say": said}


def test_related_must_stay_a_list() -> None:
    with pytest.raises(WebhookError, match="related"):
        event_from_text('{"event": "a", ' + BASE + ', "related": {"x": 1}}', HOOK)


def test_the_github_push_template_of_the_docs_makes_its_event() -> None:
    docs = Path(__file__).parents[2] / "docs" / "webhooks.md"
    template = docs.read_text().split("```jinja\n", 1)[1].split("```", 1)[0]
    delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    push = {
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/etl"},
        "pusher": {"name": "kim"},
        "commits": [{"id": "a1"}, {"id": "b2"}],
        "head_commit": None,
    }
    request = WebhookRequest(
        body=json.dumps(push).encode(),
        content_type="application/json",
        headers=(("X-GitHub-Event", "push"), ("X-GitHub-Delivery", delivery)),
    )
    event = render_event(template, request, HOOK)
    assert str(event.id) == delivery
    assert event.event == "github.push"
    assert event.resource == {
        "legato.resource.id": "github.repo.acme/etl",
        "github.ref": "refs/heads/main",
    }
    assert event.related[0] == {
        "legato.resource.id": "github.user.kim",
        "legato.resource.role": "pusher",
    }
    assert event.payload == {"commits": 2, "head": None}
