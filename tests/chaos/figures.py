"""Figures of the fault scenarios: recorded by the tests, printed after the run (conftest.py) and written
to bench/results/chaos-latest.json by `make chaos`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

#: `make chaos` sets it: the full sizes of issue 17 (500 payments, 50 kills, ...). Without it, the quick
#: sizes that keep `make test` short.
FULL = os.environ.get("KASSA_CHAOS_FULL", "") not in ("", "0")


def size(quick: int, full: int) -> int:
    """The quick size inside `make test`, the full one under `make chaos`."""
    return full if FULL else quick


@dataclass
class Scenario:
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    #: The figures that must be zero (double charges, lost payments, 5xx, ...).
    zero: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(self.values.get(key) == 0 for key in self.zero)


RECORDED: list[Scenario] = []


def record(name: str, *, zero: tuple[str, ...] = (), **values: Any) -> Scenario:
    """Keep one scenario's figures for the summary; `zero` names the ones that must be 0."""
    scenario = Scenario(name=name, values=dict(values), zero=zero)
    RECORDED.append(scenario)
    return scenario
