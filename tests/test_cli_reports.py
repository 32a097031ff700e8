"""`kassa reports seed` and `kassa reports rebuild`, as an operator runs them: a progress bar with an ETA
on a terminal, a closing line with the count and the time, rollups equal to the raw payments afterwards,
and bad input refused with what to do."""

from __future__ import annotations

import re

import click._termui_impl
import pytest
from flask import Flask

from core.jobs.runtime import Runtime
from tests.core.test_reports import coarse, raw_cells, rollup_cells, rollup_totals
from tests.fixtures import Factories


def test_seed_then_rebuild_show_progress_and_leave_rollups_equal_to_the_raw_payments(
    app: Flask, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    slug = tenant.tenant.slug
    runner = app.test_cli_runner()

    seeded = runner.invoke(args=["reports", "seed", "--tenant", slug, "--payments", "150", "--days", "20"])
    assert seeded.exit_code == 0, seeded.output
    assert f"{slug}: seeding" in seeded.output
    assert re.search(rf"{slug}: 150 payments in \d+\.\d s; now run kassa reports rebuild", seeded.output)
    assert rollup_cells(clean, tenant) == {}, "seeding writes payments only: the rollups wait for the rebuild"

    rebuilt = runner.invoke(args=["reports", "rebuild", "--tenant", slug, "--batch", "40"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"{slug}: 150 payments" in rebuilt.output  # the progress bar's label
    assert re.search(rf"{slug}: rebuilt from 150 payments in \d+\.\d s", rebuilt.output)
    cells = raw_cells(clean, tenant)
    assert sum(count for count, *_ in cells.values()) == 150
    assert rollup_cells(clean, tenant) == cells
    assert rollup_totals(clean, tenant) == coarse(cells)


class _SlowClock:
    """`time` for click's progress bar: two seconds pass between one look at the clock and the next."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        self.now += 2.0
        return self.now


def test_the_progress_bar_draws_its_position_and_eta_on_a_terminal(
    app: Flask, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    slug = tenant.tenant.slug
    runner = app.test_cli_runner()
    assert runner.invoke(args=["reports", "seed", "--tenant", slug, "--payments", "60"]).exit_code == 0
    # As on an operator's terminal: to a pipe (the test runner's output) click prints the label only.
    monkeypatch.setattr(click._termui_impl, "isatty", lambda stream: True)
    # And as if each batch took seconds: click estimates the time left once a second has passed.
    monkeypatch.setattr(click._termui_impl, "time", _SlowClock())
    rebuilt = runner.invoke(args=["reports", "rebuild", "--tenant", slug, "--batch", "20"])
    assert rebuilt.exit_code == 0, rebuilt.output
    drawn = rebuilt.output.split("\r")
    eta = r"\d\d:\d\d:\d\d"
    assert any(re.search(rf"{slug}: 60 payments .*\]\s+20/60\s+{eta}", line) for line in drawn), drawn
    assert any(re.search(rf"\]\s+40/60\s+{eta}", line) for line in drawn), drawn
    assert re.search(r"\]\s+60/60", drawn[-1]), drawn  # done: no time left to show


def test_bad_input_is_refused_with_what_to_do(app: Flask, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    runner = app.test_cli_runner()
    slug = tenant.tenant.slug
    cases = {
        ("rebuild", "--tenant", slug, "--batch", "0"): "--batch must be at least 1",
        ("rebuild", "--tenant", "no-such-shop"): "no-such-shop",
        ("seed", "--tenant", slug, "--payments", "0"): "--payments and --days must be at least 1",
        ("seed", "--tenant", "no-such-shop"): "no-such-shop",
    }
    for args, message in cases.items():
        result = runner.invoke(args=["reports", *args])
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert rollup_cells(clean, tenant) == {} and raw_cells(clean, tenant) == {}
