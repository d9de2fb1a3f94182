"""``from legato.flows import flow``: the import path Prefect users type first."""

from legato.sdk.flows import Flow, FlowOptions, flow

__all__ = ["Flow", "FlowOptions", "flow"]
