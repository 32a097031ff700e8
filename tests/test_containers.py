"""The container files: `Dockerfile`, `.dockerignore` and `compose.yaml` (docs/operations.md, "Containers").

Where Docker Compose is installed, `docker compose config` validates compose.yaml. Where it is not (this
project's CI machine has a Docker client without the compose plugin, and no daemon), that one test skips
and says so; the others hold the files to what Kassa needs, with nothing but the files and the app:
every Kassa service runs a `kassa` command that exists, with options it has; every service's
environment is one `Settings.from_env` accepts in production; the processes docs/operations.md
describes are all there; the image is multi-stage, non-root and free of build tools.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Settings
from tests.test_cli_contract import command_tree

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

#: What an operator puts in `.env` beside compose.yaml: every variable compose.yaml requires.
ENV = {
    "POSTGRES_PASSWORD": "superuser-password",
    "KASSA_OWNER_PASSWORD": "owner-password",
    "KASSA_APP_PASSWORD": "app-password",
    "KASSA_SECRET_KEY": "s" * 48,
    "KASSA_MASTER_KEY": base64.b64encode(bytes(range(32))).decode(),
    "KASSA_BASE_URL": "https://pay.example.com",
    "KASSA_MAIL_URL": "smtp://mailer:secret@mail.example.com:587",
    "KASSA_MAIL_FROM": "Shop <receipts@pay.example.com>",
}

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg or "" if op else ""

    return _VARIABLE.sub(one, value)


def _resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    return node


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml as `docker compose config` would resolve it (anchors merged, variables put in)."""
    loaded = yaml.safe_load(COMPOSE.read_text())
    resolved: dict[str, Any] = _resolve(loaded, ENV if env is None else env)
    return resolved


def kassa_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if str(service.get("image", "")).startswith("kassa") and service.get("build")
    }


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    version = (
        subprocess.run([docker, "compose", "version"], capture_output=True, check=False) if docker else None
    )
    if version is None or version.returncode != 0:
        pytest.skip(
            "Docker Compose is not installed here (no `docker compose` plugin): `docker compose config` "
            "runs where it is; the structural checks in this file stand in for it"
        )
    assert docker is not None
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets() -> None:
    for name in ENV:
        with pytest.raises(KeyError, match=name):
            compose({k: v for k, v in ENV.items() if k != name})


def test_every_kassa_service_runs_a_kassa_command_that_exists_with_options_it_has() -> None:
    from wsgi import cli

    tree = command_tree(cli)
    services = kassa_services()
    assert len(services) >= 6
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list) and command[0] == "kassa", name
        words = [word for word in command if not word.startswith("-")]
        path = "kassa"
        for word in words[1:]:
            if f"{path} {word}" not in tree:
                break
            path = f"{path} {word}"
        assert len(path.split()) > 1, f"{name}: {command} names no kassa command"
        is_group = any(other.startswith(f"{path} ") for other in tree)
        assert not is_group, f"{name}: {path} is a group, not a command"
        options = {word.split("=", 1)[0] for word in command if word.startswith("-")}
        assert options <= set(tree[path]), f"{name}: {options - set(tree[path])} not options of {path}"


def test_every_kassa_service_environment_starts_in_production() -> None:
    readable = set(re.findall(r'env(?:\.get\(|, )"([A-Z_]+)"', (ROOT / "core" / "config.py").read_text()))
    for name, service in kassa_services().items():
        environment = {k: str(v) for k, v in service["environment"].items()}
        unknown = set(environment) - readable - {"DATABASE_ADMIN_URL"}
        assert not unknown, f"{name} sets {unknown}, which Kassa does not read"
        settings = Settings.from_env(environment)  # validates: production refuses what it cannot run with
        assert settings.is_production and not settings.is_sqlite and not settings.uses_fake_redis, name
        assert settings.database_app_url and "kassa_app" in settings.database_app_url, name
        # Only the one-off bootstrap holds the superuser's URL (docs/operations.md, "Database roles").
        assert ("DATABASE_ADMIN_URL" in environment) == (service["command"][1:3] == ["db", "bootstrap-roles"])


def _queues(service: dict[str, Any]) -> set[str]:
    command = service["command"]
    named = {command[i + 1] for i, word in enumerate(command) if word == "--queue"}
    return named or {"payments", "webhooks", "payouts", "default"}


def test_the_processes_docs_operations_describes_are_all_there() -> None:
    services = compose()["services"]
    assert {"postgres", "redis"} <= set(services)
    kassa = kassa_services()
    by_command: dict[str, list[str]] = {}
    for name, service in kassa.items():
        by_command.setdefault(" ".join(service["command"][:2]), []).append(name)
    web = {name: kassa[name]["environment"]["KASSA_SURFACES"] for name in by_command["kassa serve"]}
    assert sorted(web.values()) == ["checkout", "portal,api"]
    workers = [kassa[name] for name in by_command["kassa worker"]]
    assert {"payments", "default"} <= set().union(*(_queues(w) for w in workers))
    (cron,) = by_command["kassa cron"]
    assert kassa[cron].get("deploy", {}).get("replicas", 1) == 1  # exactly one cron
    # Migrations run before anything that serves, works or schedules.
    for name in [*web, *by_command["kassa worker"], cron]:
        condition = kassa[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert kassa["migrate"]["command"] == ["kassa", "db", "upgrade"]
    for name in web:
        assert "8000" in str(kassa[name]["ports"]) and "--bind" in kassa[name]["command"]


def test_every_variable_compose_takes_is_documented() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    section = docs.split("## Containers", 1)[1].split("\n## ", 1)[0]
    taken = {m.group("name") for m in _VARIABLE.finditer(repr(yaml.safe_load(COMPOSE.read_text())))} - {None}
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    assert taken <= documented, f"document {taken - documented} in docs/operations.md, 'Containers'"
    assert set(ENV) <= taken


def _stages(text: str) -> list[tuple[str, list[str]]]:
    """The Dockerfile's stages: (name, instructions), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[tuple[str, list[str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.search(r"\bAS\s+(\S+)", line, flags=re.IGNORECASE)
            stages.append((match.group(1) if match else str(len(stages)), [line]))
        elif stages:
            stages[-1][1].append(line)
    return stages


def test_the_image_is_multi_stage_non_root_and_without_build_tools() -> None:
    stages = dict(_stages(DOCKERFILE.read_text()))
    assert len(stages) >= 3, list(stages)
    *_, final = list(stages)
    runtime = stages[final]
    users = [line.split(None, 1)[1] for line in runtime if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    runs = " ".join(line for line in runtime if line.upper().startswith("RUN "))
    for tool in ("gcc", "build-essential", "npm", "node", "pip install", "make", "git"):
        assert not re.search(rf"\b{re.escape(tool)}\b", runs), f"{tool} in the final stage"
    assert any(line.startswith("COPY --from=") for line in runtime)
    (assets,) = [name for name, lines in stages.items() if any("npm ci" in line for line in lines)]
    assert any("package-lock.json" in line and line.startswith("COPY ") for line in stages[assets])
    assert any(f"--from={assets}" in line for lines in stages.values() for line in lines)
    command = next(line for line in reversed(runtime) if line.startswith("CMD "))
    assert '"kassa", "serve"' in command
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "node_modules", ".env", "instance"} <= ignored
