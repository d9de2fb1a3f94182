"""Loading a flow from its entrypoint, ``path/to/file.py:function`` (or ``module:function``)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from legato.errors import LegatoError


def load_flow(entrypoint: str) -> Any:
    """Import the file or module of ``entrypoint`` and return the flow object it names.

    The file is imported under a private module name, so its
    ``if __name__ == "__main__":`` block does not run.
    """
    from legato.sdk.flows import Flow

    path_text, sep, attribute = entrypoint.rpartition(":")
    if not sep or not path_text or not attribute:
        raise LegatoError(
            f"entrypoint {entrypoint!r} is not of the form path/to/file.py:function_name"
        )
    if path_text.endswith(".py") or "/" in path_text:
        path = Path(path_text).expanduser().resolve()
        if not path.is_file():
            raise LegatoError(f"the flow file {path} of entrypoint {entrypoint!r} does not exist")
        # The same name in every process (hash() of a str is salted per process).
        module_name = f"legato_flow_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise LegatoError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent))
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[module_name]
                raise LegatoError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(path_text)
        except ImportError as exc:
            raise LegatoError(f"cannot import module {path_text!r}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise LegatoError(f"{path_text} has no attribute {attribute!r}")
    if not isinstance(target, Flow):
        raise LegatoError(f"{entrypoint!r} is a {type(target).__name__}, not a @flow")
    return target
