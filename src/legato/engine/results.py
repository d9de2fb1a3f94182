"""Where task results are written: cloudpickle bytes through fsspec.

The default is a folder under LEGATO_HOME; ``LEGATO_RESULTS_URL`` (or
``result_storage=`` on a task or flow) can name any fsspec URL, such as
``s3://bucket/prefix``. Keys are relative paths below that root.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from legato.errors import ResultNotAvailable, SerializationError
from legato.files import PRIVATE_FILE_MODE, private_dir


class ResultStore:
    """Reads and writes pickled values under one fsspec root. Thread-safe."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._fs: Any = None
        self._lock = threading.Lock()

    @property
    def fs(self) -> Any:
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    import fsspec

                    fs, _ = fsspec.core.url_to_fs(self.url)
                    self._fs = fs
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self.url}/{key}"

    def write(self, key: str, value: Any) -> None:
        """Pickle ``value`` to ``key``; raises SerializationError naming the value's type."""
        import cloudpickle

        try:
            payload = cloudpickle.dumps(value)
        except Exception as exc:
            raise SerializationError(
                f"the result (a {type(value).__name__}) cannot be pickled: {exc}. Return "
                "a picklable value, or set persist_result=False and no cache_key_fn"
            ) from exc
        path = self._path(key)
        fs = self.fs
        if "file" in fs.protocol:
            import fsspec

            # Results may hold anything a flow computed: folders 0700, files 0600. The
            # OS path is the URL without its protocol (``file:///x`` is ``/x``).
            path = fsspec.core.strip_protocol(path)
            private_dir(Path(os.path.dirname(path)))
            tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, path)
        else:
            fs.pipe_file(path, payload)

    def read(self, key: str) -> Any:
        import cloudpickle

        try:
            with self.fs.open(self._path(key), "rb") as handle:
                payload = handle.read()
        except FileNotFoundError:
            raise ResultNotAvailable(
                f"the stored result {key!r} is missing from {self.url}"
            ) from None
        except OSError as exc:
            raise ResultNotAvailable(f"cannot read the stored result {key!r}: {exc}") from exc
        try:
            return cloudpickle.loads(payload)
        except Exception as exc:
            raise ResultNotAvailable(f"the stored result {key!r} cannot be loaded: {exc}") from exc

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))


def cache_result_key(cache_key: str) -> str:
    """The result key for a cache key (hashed: cache keys may hold any characters)."""
    return "cache/" + hashlib.sha256(cache_key.encode()).hexdigest()


def task_result_key(flow_run_id: str | None, task_run_id: str) -> str:
    if flow_run_id is None:  # a task called outside any flow
        return f"task-runs/{task_run_id}"
    return f"runs/{flow_run_id}/{task_run_id}"
