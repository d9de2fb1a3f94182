"""Errors legato raises on purpose.

    LegatoError                  root: catch this to catch anything legato raised itself
    +-- StoreError               the state store cannot be used (corrupt, read-only, locked,
    |                            newer schema); the message says what to do
    +-- ObjectNotFound           an id or name that is not stored
    +-- TransitionRefused        a state change the rules forbid (leaving a terminal state, ...)
    +-- ParameterValidationError a flow parameter does not fit the flow's signature
    +-- ParameterSchemaError     a deployment's parameter schema legato cannot use safely
    +-- ScheduleError            a cron, interval, RRULE or time zone that cannot be a schedule
    +-- SettingsError            a bad setting: damaged config.toml, unknown key, value out of
    |                            range (defined in legato.settings, which names the variable)
    +-- RunFailed                a run ended without a value and its own exception is not at hand
    |   +-- UpstreamFailedError  a task could not run because a task it depends on failed
    +-- TaskTimeout              a task or flow ran past ``timeout_seconds`` (also a TimeoutError)
    |   +-- FlowTimeout          the flow body itself ran past its ``timeout_seconds``
    +-- ResultNotAvailable       a persisted result is missing or cannot be read
    +-- SerializationError       a value cannot be written to the result store
    +-- SecretKeyError           the encryption key of stored secrets is missing, malformed or
    |                            not the one they were encrypted with (the message names the
    |                            setting or key file)
    +-- ChannelExists            a notification channel of that name is stored already

Exceptions raised by user code are never wrapped: a failing task re-raises the
user's own exception where its result is asked for.
"""

from __future__ import annotations


class LegatoError(Exception):
    """Root of every error legato raises itself."""


class StoreError(LegatoError):
    """The state store cannot be opened or written; nothing stored was changed."""


class RunTakenBack(StoreError):
    """This process's flow run is no longer its own (its attempt token was cleared or
    replaced: the run ended, was cancelled, was crashed by the reaper, or is held by
    another attempt); the process must stop without reporting more."""


class ObjectNotFound(LegatoError):
    """No stored object has this id or name."""


class TransitionRefused(LegatoError):
    """The orchestration rules refused a proposed state."""


class ParameterValidationError(LegatoError, TypeError):
    """A flow was called with a parameter its type hints do not accept."""


class ParameterSchemaError(LegatoError, ValueError):
    """A deployment's parameter schema is malformed, refers outside itself or to nothing,
    holds a pattern RE2 cannot match, or is too large or complex to check parameters with."""


class ScheduleError(LegatoError, ValueError):
    """A schedule cannot be built; the message quotes the bad part and what would be accepted."""


class RunFailed(LegatoError):
    """A run ended Failed, Crashed or Cancelled and there is no exception object to re-raise."""


class UpstreamFailedError(RunFailed):
    """A task did not run because one of its upstream tasks did not complete."""


class TaskTimeout(LegatoError, TimeoutError):
    """A task or flow body ran longer than its ``timeout_seconds``."""


class FlowTimeout(TaskTimeout):
    """A flow body ran longer than its ``timeout_seconds``; its unfinished task runs end too."""


class ResultNotAvailable(LegatoError):
    """A stored result is gone or unreadable."""


class SerializationError(LegatoError):
    """A value could not be serialized for the result store."""


class Abort(BaseException):
    """Raised inside a run's thread to stop it (timeout, SIGTERM); never caught by user code's
    ``except Exception``."""


class Terminated(Abort):
    """A top-level flow run was stopped by SIGTERM and is recorded Crashed: the process
    should end now (exit code 143), as SIGTERM's default action would have ended it."""


def describe_error(exc: BaseException) -> str:
    """``Type: message`` (or just ``Type``): how a failure is shown in a state message."""
    from legato.text import clean_text

    text = clean_text(str(exc))  # e.g. a FileNotFoundError naming a file that is not UTF-8
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SecretKeyError(LegatoError):
    """Stored secrets cannot be encrypted or read with the key at hand: the key
    (``LEGATO_ENCRYPTION_KEY`` or ``$LEGATO_HOME/encryption.key``) is malformed,
    unreadable, or not the one they were encrypted with."""


class ChannelExists(LegatoError):
    """A notification channel of this name is stored already."""
