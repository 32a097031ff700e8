"""`python -m bench [BENCHMARK] [OPTIONS]`: no name runs the suite (`make bench`)."""

from __future__ import annotations

import click

from bench import export, hosted_page, loop, payments, reports, request_cost, suite, webhooks

#: Every benchmark by name. `suite` is `make bench`: every figure beside its ceiling, in one run; the
#: others measure one thing each, in more detail.
BENCHMARKS: dict[str, click.Command] = {
    "suite": suite.command,
    "payments": payments.command,
    "hosted_page": hosted_page.command,
    "request_cost": request_cost.command,
    "webhooks": webhooks.command,
    "reports": reports.command,
    "export": export.command,
    "loop": loop.command,
}


@click.group(
    invoke_without_command=True,
    help="Kassa benchmarks on PostgreSQL + Redis. Without a name, runs the suite (what `make bench` runs).",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        ctx.invoke(suite.command)


for _name, _command in BENCHMARKS.items():
    main.add_command(_command, _name)


if __name__ == "__main__":
    main(prog_name="python -m bench")
