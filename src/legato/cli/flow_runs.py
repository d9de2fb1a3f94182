"""``legato flow-run execute ID``: run a stored flow run in this process (workers use it).

Not for everyday use, hence hidden from ``legato --help``: a worker launches it for
each run it claims. Exit code 0 when the run ends Completed, 1 otherwise.
"""

from __future__ import annotations

from typing import Annotated

import typer

from legato.cli.output import reports_errors

app = typer.Typer(
    rich_markup_mode=None,
    name="flow-run",
    help="Run a stored flow run (what a worker launches for each run it claims).",
    no_args_is_help=True,
)


@app.command("execute")
@reports_errors
def execute(
    flow_run_id: Annotated[
        str, typer.Argument(metavar="ID", help="A Scheduled or Pending flow run's id.")
    ],
) -> None:
    """Run the flow run ID here, under its own id, to its final state."""
    from legato.states import StateType
    from legato.workers.execute import execute_flow_run, route_run_console_to_worker
    from legato.workers.launchers.lifeline import die_with_launcher

    die_with_launcher()
    route_run_console_to_worker()
    state = execute_flow_run(flow_run_id)
    if state.type is not StateType.COMPLETED:
        raise typer.Exit(1)
