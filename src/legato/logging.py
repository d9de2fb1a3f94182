"""``from legato.logging import get_run_logger``: Prefect's import path."""

from legato.sdk.logging import get_run_logger

__all__ = ["get_run_logger"]
