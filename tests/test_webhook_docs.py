"""docs/webhooks.md's verification snippets (Python with `standardwebhooks`, Node with the npm package,
and by hand) verify a message Kassa signed, and refuse a tampered one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.webhooks import signing
from tests.fixtures import ROOT, skip_or_fail

DOC = (ROOT / "docs" / "webhooks.md").read_text()


def _block(heading: str, language: str) -> str:
    section = DOC.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"docs/webhooks.md has no {language} block under {heading!r}"
    return match.group(1)


def _secret(code: str) -> str:
    found = re.search(r'"(whsec_[A-Za-z0-9+/=]+)"', code)
    assert found
    return found.group(1)


def _message(secret: str) -> tuple[bytes, dict[str, str]]:
    body = signing.body_bytes(
        {
            "type": "payment.succeeded",
            "timestamp": "2026-12-01T10:00:00Z",
            "data": {"id": "pay_01jd8x3m4n5p6q7r8s9t0v1w2x", "object": "payment", "amount": 2500},
            "sequence": 3,
        }
    )
    headers = signing.headers(
        [secret], msg_id="evt_01jd8x3m4n5p6q7r8s9t0v1w2x", timestamp=datetime.now(UTC), body=body
    )
    return body, headers


def test_the_python_snippet_verifies_a_kassa_message() -> None:
    code = _block("### Python", "python")
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102  (the documented snippet)
    body, headers = _message(_secret(code))
    assert namespace["receive"](body, headers)["type"] == "payment.succeeded"
    assert namespace["receive"](body.replace(b"2500", b"1"), headers) is None  # tampered
    assert namespace["receive"](body, _message(signing.new_secret())[1]) is None  # another secret


def test_the_by_hand_snippet_verifies_a_kassa_message() -> None:
    code = _block("### By hand", "python")
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102  (the documented snippet)
    secret = signing.new_secret()
    body, headers = _message(secret)
    verify = namespace["verify_by_hand"]
    assert verify(secret, body, headers)
    assert not verify(secret, body + b" ", headers)
    assert not verify(signing.new_secret(), body, headers)
    stale = {**headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()) - 600)}
    assert not verify(secret, body, stale)
    rotated = {
        **headers,
        "webhook-signature": signing.signature(
            [signing.new_secret(), secret],
            msg_id=headers["webhook-id"],
            timestamp=datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC),
            body=body,
        ),
    }
    assert verify(secret, body, rotated), "either signature of a rotation verifies"


@pytest.fixture(scope="module")
def node_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `standardwebhooks` npm package, installed for this test only (not a dependency of Kassa)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        skip_or_fail("needs node and npm")
    directory = tmp_path_factory.mktemp("npm")
    result = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(directory),
            "standardwebhooks@1",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        skip_or_fail(f"npm could not install standardwebhooks: {result.stderr[-500:]}")
    return directory


def test_the_node_snippet_verifies_a_kassa_message(node_package: Path) -> None:
    code = _block("### Node", "js")
    (node_package / "receive.js").write_text(code)
    body, headers = _message(_secret(code))
    tampered = body.replace(b"2500", b"1")
    script = (
        "const { receive } = require('./receive.js');"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const good = receive(input.body, input.headers);"
        "const bad = receive(input.tampered, input.headers);"
        "process.stdout.write(JSON.stringify({ type: good && good.type, bad }));"
    )
    result = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({"body": body.decode(), "tampered": tampered.decode(), "headers": headers}),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=node_package,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"type": "payment.succeeded", "bad": None}
