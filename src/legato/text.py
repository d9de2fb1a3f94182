"""Text that the store and a UTF-8 body can hold.

Python hands out strings that are not valid Unicode text: a file name that is not
UTF-8 becomes lone surrogates (``os.fsdecode(b"caf\\xe9.csv") == "caf\\udce9.csv"``,
and so do ``os.listdir``, ``sys.argv`` and environment variables). Neither SQLite,
PostgreSQL nor a UTF-8 JSON body can carry them, and PostgreSQL text cannot hold NUL.

Free text (log lines, state messages, names) is cleaned where it enters legato:
each bad character becomes U+FFFD, the rest is kept. Parameters are values a flow
body receives, so they are never changed silently: :func:`json_text_problem` names
what cannot be stored, and the caller refuses them. Reads clean what an older
version may have stored (:func:`loads_json`), so no row can break a listing.
"""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """``text`` with lone surrogates and NUL replaced by U+FFFD (a surrogate pair
    written as two code points becomes the character it stands for)."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing more
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT) if "\x00" in text else text


def is_clean(text: str) -> bool:
    """Whether ``text`` can be stored as it is."""
    return clean_text(text) is text


def clean_json(value: Any) -> Any:
    """A JSON value with every string in it (keys too) passed through :func:`clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def json_text_problem(value: Any, where: str = "") -> str | None:
    """Where ``value`` holds text that cannot be stored as JSON text, and why (None: it can).

    Names the first such place, e.g. ``parameters.path: 'caf\\udce9.csv' is not valid
    Unicode text (it holds a lone surrogate, ...)``.
    """
    if isinstance(value, str):
        return None if _encodes(value) else f"{where or 'value'}: {_shown(value)} {_WHY}"
    if isinstance(value, dict):
        for key, item in value.items():
            place = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and not _encodes(key):
                return f"{where or 'value'}: the key {_shown(key)} {_WHY}"
            found = json_text_problem(item, place)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = json_text_problem(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


_WHY = (
    "is not valid Unicode text (it holds a lone surrogate, as Python makes from a file "
    "name or argument that is not UTF-8); decode such names with errors='replace' "
    "(os.fsencode(name).decode('utf-8', 'replace')) before passing them"
)


def _encodes(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    shown = ascii(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` for values read from the store: strings that an older version
    stored with lone surrogates (escaped, as ``\\udce9``) come back cleaned, so a
    listing never fails on encoding them."""
    value = json.loads(text)
    if isinstance(text, str):
        escapes = "\\ud" in text or "\\uD" in text
    else:
        escapes = b"\\ud" in text or b"\\uD" in text
    if escapes:  # only then can a decoded string hold one
        value = clean_json(value)
    return value


def check_parameters(flow_name: str, parameters: Any) -> None:
    """Refuse (ParameterValidationError) flow parameters the store cannot hold as JSON
    text, naming the first bad one. ``parameters`` as they would be stored (jsonable)."""
    from legato.errors import ParameterValidationError

    problem = json_text_problem(parameters, "parameters")
    if problem is not None:
        raise ParameterValidationError(
            f"flow {flow_name!r} cannot be run with these parameters, which could not be "
            f"stored: {problem}"
        )


def require_storable(value: Any, where: str = "") -> Any:
    """``value`` unchanged, or ValueError naming the text in it that cannot be stored
    (for pydantic validators: the API answers 422 with that message)."""
    problem = json_text_problem(value, where)
    if problem is not None:
        raise ValueError(problem)
    return value
