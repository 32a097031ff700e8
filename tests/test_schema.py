"""The migrations and the models describe the same schema, on whichever database the suite runs."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import Base
from core.jobs.runtime import Runtime


def test_models_match_the_migrations(clean: Runtime) -> None:
    with clean.db.owner_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], "run: alembic revision --autogenerate (see docs/operations.md)"


def test_importing_the_code_connects_to_nothing() -> None:
    # A fresh interpreter imports every module with unreachable servers configured: nothing may connect.
    code = (
        "import os; os.environ['DATABASE_URL']='postgresql://nobody@127.0.0.1:1/none';"
        "os.environ['REDIS_URL']='redis://127.0.0.1:1/0';"
        "import wsgi, demo, cli, core.jobs.worker, core.jobs.maintenance, portal.views, portal.api, checkout;"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
