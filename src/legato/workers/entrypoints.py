"""Loading a flow from its entrypoint, ``path/to/file.py:function`` (or ``module:function``).

Importing an entrypoint runs its code, and a deployment's entrypoint is whatever its
creator wrote: whoever can create deployments runs code on the workers. A worker can
be limited to entrypoints inside given directories (``legato worker start
--entrypoint-dir DIR``, ``LEGATO_WORKER_ENTRYPOINT_DIRS``): :func:`load_flow` then
finds the file an entrypoint names (following symlinks; for a module, where each
package on its dotted path would be imported from, found without importing anything)
and refuses it, before any of its code runs, unless it lies inside one of them.

``flow.deploy()``, ``legato deploy`` and ``legato runs retry`` load flows with it too,
so that a flow deploys (or reruns) only if a worker could import it the same way.

A file imported here runs its top level, and a Prefect-style file calls
``my_flow.serve(...)`` there with no ``__main__`` guard: the import is marked as
legato's own (:func:`legato.sdk.deploying.loading_entrypoint`), so such a ``serve`` or
``deploy`` call returns at once instead of serving inside the process that loads it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from legato.errors import LegatoError
from legato.sdk.deploying import loading_entrypoint
from legato.sdk.flows import Flow


class EntrypointRefused(LegatoError):
    """The entrypoint lies outside the directories this worker runs flows from."""


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _refused(entrypoint: str, where: str, folders: Sequence[Path]) -> EntrypointRefused:
    shown = ", ".join(str(folder) for folder in folders)
    return EntrypointRefused(
        f"entrypoint {entrypoint!r} {where}, outside the directories this worker runs flows "
        f"from ({shown}); it was not imported. Move the flow there, or start the worker "
        "with --entrypoint-dir (LEGATO_WORKER_ENTRYPOINT_DIRS) naming its directory"
    )


def _find_spec(name: str, path: Sequence[str] | None) -> Any:
    """The spec the import system would use for ``name``, from its parent package's
    ``path`` (None: sys.path), without importing the parent or anything else."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec = find(name, path)
        if spec is not None:
            return spec
    return None


def check_module_inside(entrypoint: str, module: str, folders: Sequence[Path]) -> None:
    """Refuse ``module`` unless every file importing it would run is inside ``folders``."""
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        raise LegatoError(f"entrypoint {entrypoint!r} names {module!r}, which is not a module name")
    search: Sequence[str] | None = None
    for index in range(len(parts)):
        name = ".".join(parts[: index + 1])
        loaded = sys.modules.get(name)  # imported already: that is what import returns
        spec = getattr(loaded, "__spec__", None) if loaded is not None else None
        spec = spec or _find_spec(name, search)
        if spec is None:
            raise _refused(entrypoint, f"names the module {name!r}, which cannot be found", folders)
        if spec.has_location and spec.origin:
            origin = Path(spec.origin).resolve()
            if not _inside(origin, folders):
                raise _refused(entrypoint, f"imports {name!r} from {origin}", folders)
        elif spec.submodule_search_locations is None:  # built in, frozen: not a file
            raise _refused(entrypoint, f"names {name!r}, which is not a file", folders)
        if index < len(parts) - 1:
            if spec.submodule_search_locations is None:
                raise LegatoError(f"cannot import module {module!r}: {name!r} is not a package")
            search = list(spec.submodule_search_locations)


def load_flow(entrypoint: str, *, allowed_dirs: Sequence[Path] | None = None) -> Any:
    """Import the file or module of ``entrypoint`` and return the flow object it names.

    The file is imported under a private module name, so its
    ``if __name__ == "__main__":`` block does not run. With ``allowed_dirs``, an
    entrypoint whose file lies outside them is refused (:class:`EntrypointRefused`)
    before anything is imported.
    """
    path_text, sep, attribute = entrypoint.rpartition(":")
    if not sep or not path_text or not attribute:
        raise LegatoError(
            f"entrypoint {entrypoint!r} is not of the form path/to/file.py:function_name"
        )
    folders = None
    if allowed_dirs is not None:
        folders = [Path(folder).expanduser().resolve() for folder in allowed_dirs]
    if path_text.endswith(".py") or "/" in path_text:
        path = Path(path_text).expanduser().resolve()
        if folders is not None and not _inside(path, folders):
            raise _refused(entrypoint, f"is the file {path}", folders)
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
                with loading_entrypoint(entrypoint):
                    spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[module_name]
                raise LegatoError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    else:
        if folders is not None:
            check_module_inside(entrypoint, path_text, folders)
        try:
            with loading_entrypoint(entrypoint):
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
