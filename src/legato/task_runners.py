"""``from legato.task_runners import ThreadPoolTaskRunner``: Prefect's import path."""

from legato.sdk.runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

__all__ = ["ProcessPoolTaskRunner", "ThreadPoolTaskRunner"]
