"""`python -m bench [BENCHMARK] [OPTIONS]`: no name runs every benchmark with its defaults."""

from __future__ import annotations

import click

from bench import hosted_page, payments, request_cost

#: Every benchmark, in the order a bare `python -m bench` runs them.
BENCHMARKS: dict[str, click.Command] = {
    "payments": payments.command,
    "hosted_page": hosted_page.command,
    "request_cost": request_cost.command,
}


@click.group(
    invoke_without_command=True,
    help="Kassa benchmarks on PostgreSQL + Redis. Without a name, runs every benchmark with its defaults.",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        for command in BENCHMARKS.values():
            ctx.invoke(command)


for _name, _command in BENCHMARKS.items():
    main.add_command(_command, _name)


if __name__ == "__main__":
    main(prog_name="python -m bench")
