"""Events from user code, as Prefect users import them: ``from legato.events import
emit_event`` (also ``legato.emit_event``)."""

from legato.sdk.events import emit_event

__all__ = ["emit_event"]
