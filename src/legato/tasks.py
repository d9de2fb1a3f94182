"""``from legato.tasks import task``: the import path Prefect users type first."""

from legato.engine.caching import task_input_hash
from legato.sdk.tasks import Task, TaskOptions, task

__all__ = ["Task", "TaskOptions", "task", "task_input_hash"]
