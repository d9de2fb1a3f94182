"""legato.text: what the store and a UTF-8 body can hold."""

from __future__ import annotations

import json
import os

import pytest

from legato.errors import ParameterValidationError
from legato.text import (
    check_parameters,
    clean_json,
    clean_text,
    json_text_problem,
    loads_json,
)

BAD = os.fsdecode(b"caf\xe9.csv")


def test_clean_text_replaces_lone_surrogates_and_nul_and_keeps_the_rest() -> None:
    assert clean_text(BAD) == "caf\ufffd.csv"
    assert clean_text("a\x00b") == "a\ufffdb"
    assert clean_text("\ud83d\ude00 ok") == "\U0001f600 ok"  # a pair written as two
    plain = "émoji ✓"
    assert clean_text(plain) is plain
    ascii_text = "plain"
    assert clean_text(ascii_text) is ascii_text


def test_json_text_problem_names_the_first_bad_place() -> None:
    assert json_text_problem({"a": [1, "ok", {"b": "fine"}]}) is None
    problem = json_text_problem({"a": [1, {"path": BAD}]}, "parameters")
    assert problem is not None
    assert problem.startswith("parameters.a[1].path: 'caf\\udce9.csv' is not valid Unicode")
    key_problem = json_text_problem({BAD: 1}, "parameters")
    assert key_problem is not None and "the key 'caf\\udce9.csv'" in key_problem


def test_check_parameters_refuses_with_the_flow_and_parameter_named() -> None:
    check_parameters("f", {"path": "cafe.csv"})
    with pytest.raises(ParameterValidationError, match=r"flow 'f'.*parameters\.path"):
        check_parameters("f", {"path": BAD})


def test_loads_json_cleans_escaped_lone_surrogates_only() -> None:
    stored = json.dumps({"path": BAD, "ok": "\U0001f600", BAD: [BAD]})
    assert loads_json(stored) == {
        "path": "caf\ufffd.csv",
        "ok": "\U0001f600",
        "caf\ufffd.csv": ["caf\ufffd.csv"],
    }
    assert loads_json('{"a": "\\u00e9"}') == {"a": "é"}
    assert clean_json([BAD, 1, None]) == ["caf\ufffd.csv", 1, None]
