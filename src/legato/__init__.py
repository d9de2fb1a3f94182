"""legato: plain Python functions become observable, retried, scheduled workflows.

from legato import flow, task

@task(retries=2)
def extract() -> list[int]: ...

@flow
def etl() -> None: ...
"""

from legato.engine.caching import task_input_hash
from legato.engine.context import FlowRunInfo, TaskRunInfo, get_run_context
from legato.engine.futures import FutureList, LegatoFuture, allow_failure, unmapped
from legato.engine.retries import exponential_backoff
from legato.engine.tagging import tags
from legato.sdk.client import get_client
from legato.sdk.deploying import plug_deployer
from legato.sdk.events import emit_event
from legato.sdk.flows import Flow, FlowOptions, flow
from legato.sdk.logging import get_run_logger
from legato.sdk.runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from legato.sdk.tasks import Task, TaskOptions, task
from legato.states import (
    AwaitingConcurrencySlot,
    AwaitingRetry,
    Cached,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Late,
    Paused,
    Pending,
    Retrying,
    Running,
    Scheduled,
    State,
    StateType,
    Suspended,
    TimedOut,
    UpstreamFailed,
)
from legato.workers.deploy import WorkersDeployer
from legato.workers.reruns import retry_flow_run

__version__ = "0.1.0"

# Flow.deploy and Flow.serve belong to the workers, above the SDK: see legato.sdk.deploying.
plug_deployer(WorkersDeployer())

__all__ = [
    "AwaitingConcurrencySlot",
    "AwaitingRetry",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "Flow",
    "FlowOptions",
    "FlowRunInfo",
    "FutureList",
    "Late",
    "LegatoFuture",
    "Paused",
    "Pending",
    "ProcessPoolTaskRunner",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "Suspended",
    "Task",
    "TaskOptions",
    "TaskRunInfo",
    "ThreadPoolTaskRunner",
    "TimedOut",
    "UpstreamFailed",
    "__version__",
    "allow_failure",
    "emit_event",
    "exponential_backoff",
    "flow",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "retry_flow_run",
    "tags",
    "task",
    "task_input_hash",
    "unmapped",
]
