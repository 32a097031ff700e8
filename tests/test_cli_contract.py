"""The `kassa` command tree is a contract: every group, subcommand and option name, as shipped before the
CLI moved from `wsgi.py` into the `cli/` package. A change here is a change operators' scripts see."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent

#: Captured from `wsgi.cli` before the move. Arguments are upper-case; options list every spelling.
CONTRACT: dict[str, tuple[str, ...]] = {
    "kassa": ("--app", "--debug", "--env-file", "--no-debug", "-A", "-e"),
    "kassa audit": (),
    "kassa audit verify": ("--adopt", "--tenant"),
    "kassa backup": (),
    "kassa backup verify": ("--admin-url", "--jobs", "--keep", "DUMP"),
    "kassa checkout": (),
    "kassa checkout verify-scripts": ("--timeout", "URL"),
    "kassa cron": ("--lock-ttl",),
    "kassa db": (),
    "kassa db bootstrap-roles": ("--admin-url",),
    "kassa db upgrade": ("--revision",),
    "kassa demo": ("--host", "--port", "--shop-port"),
    "kassa keys": (),
    "kassa keys create": ("--mode", "--permission", "--tenant"),
    "kassa keys list": ("--tenant",),
    "kassa keys revoke": ("--key", "--tenant"),
    "kassa keys roll": ("--json", "--key", "--overlap", "--tenant"),
    "kassa keys rotate": ("--batch", "--data-keys"),
    "kassa payouts": (),
    "kassa payouts terms": ("--delay-days", "--reason", "--reserve-bps", "--reserve-days", "--tenant"),
    "kassa reports": (),
    "kassa reports rebuild": ("--batch", "--tenant"),
    "kassa reports seed": ("--days", "--payments", "--seed", "--tenant"),
    "kassa routes": ("--all-methods", "--sort", "-s"),
    "kassa run": (
        "--cert",
        "--debug",
        "--debugger",
        "--exclude-patterns",
        "--extra-files",
        "--host",
        "--key",
        "--no-debug",
        "--no-debugger",
        "--no-reload",
        "--port",
        "--reload",
        "--with-threads",
        "--without-threads",
        "-h",
        "-p",
    ),
    "kassa serve": ("--bind", "--threads", "--workers"),
    "kassa shell": (),
    "kassa status": ("--check", "--json"),
    "kassa tenants": (),
    "kassa tenants create": ("--country", "--currency", "--json", "--name", "--slug"),
    "kassa tenants list": (),
    "kassa users": (),
    "kassa users create": ("--email", "--password", "--role", "--tenant", "--totp-secret"),
    "kassa users disable": ("--email",),
    "kassa users enable": ("--email",),
    "kassa worker": (
        "--burst",
        "--fork",
        "--in-process",
        "--max-jobs",
        "--max-memory",
        "--metrics-host",
        "--metrics-port",
        "--queue",
    ),
}


def command_tree(group: click.Group) -> dict[str, tuple[str, ...]]:
    def names(cmd: click.Command) -> tuple[str, ...]:
        found: list[str] = []
        for param in cmd.params:
            if isinstance(param, click.Option):
                found += [*param.opts, *param.secondary_opts]
            else:
                found.append((param.name or "").upper())
        return tuple(sorted(found))

    def walk(cmd: click.Command, ctx: click.Context, path: str, out: dict[str, tuple[str, ...]]) -> None:
        out[path] = names(cmd)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, f"{path} {name} is listed but does not load"
                walk(sub, ctx, f"{path} {name}", out)

    tree: dict[str, tuple[str, ...]] = {}
    with group.make_context("kassa", [], resilient_parsing=True) as ctx:
        walk(group, ctx, "kassa", tree)
    return tree


def test_the_kassa_command_tree_is_unchanged() -> None:
    from wsgi import cli

    assert command_tree(cli) == CONTRACT


def test_the_console_script_lists_every_top_level_command() -> None:
    kassa = Path(sys.executable).with_name("kassa")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KASSA_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [str(kassa), "--help"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  (\S+)  ", result.stdout.split("Commands:", 1)[1], flags=re.MULTILINE)
    assert sorted(listed) == sorted({path.split()[1] for path in CONTRACT if path.count(" ") >= 1})


def test_wsgi_holds_no_command_only_the_group() -> None:
    import cli
    import wsgi

    commands = [name for name, value in vars(wsgi).items() if isinstance(value, click.Command)]
    assert commands == ["cli"]
    assert all(command.callback is not None for command in cli.COMMANDS)
    assert {command.callback.__module__.split(".")[0] for command in cli.COMMANDS if command.callback} == {
        "cli"
    }
