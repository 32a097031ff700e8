"""Statement descriptors: the card networks' rules, the derived default, and the sandbox acquirer's echo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from core import descriptors
from core.clock import FrozenClock
from core.errors import InvalidInput
from core.jobs.runtime import Runtime
from core.processors import AuthorizationRequest, ProcessorStatus, SandboxProcessor, TestCards


@pytest.mark.parametrize(
    ("given", "stored"),
    [("mug makers", "MUG MAKERS"), (" A  B  C  D ", "A B C D"), ("*&'.,-x", "*&'.,-X")],
)
def test_normalize_upper_cases_and_squeezes_spaces(given: str, stored: str) -> None:
    assert descriptors.normalize(given) == stored
    assert descriptors.is_valid(stored)


@pytest.mark.parametrize("given", ["abcd", "x" * 23, "12345", "ÄBCDEF", "abc\tdef", "abc<def", "abc\\def"])
def test_normalize_refuses_what_the_networks_refuse(given: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        descriptors.normalize(given)
    assert refused.value.param == "statement_descriptor"


@pytest.mark.parametrize(
    ("name", "slug", "derived"),
    [
        ("Mug Makers", "mugs", "MUG MAKERS"),
        ("Ærø Æbleskiver GmbH & Co. KG", "aero", "AERO AEBLESKIVER GMBH"),
        ("Łódź Bakery", "lodz", "LODZ BAKERY"),
        ("  Tab\tand\nnewline  shop ", "tabs", "TAB AND NEWLINE SHOP"),
        ("Кофейня", "kofeinya", "KASSA* KOFEINYA"),
        ("Ab", "a-very-long-slug-that-goes-on-and-on", "KASSA* A-VERY-LONG-SLU"),
    ],
)
def test_derive_folds_the_display_name_or_falls_back_to_the_slug(name: str, slug: str, derived: str) -> None:
    assert descriptors.derive(name, slug=slug) == derived
    assert descriptors.is_valid(derived)


@dataclass(frozen=True)
class Card:
    pan: str = TestCards.SUCCESS
    exp_month: int = 12
    exp_year: int = 2034


def _request(key: str, descriptor: str | None) -> AuthorizationRequest:
    return AuthorizationRequest(
        idempotency_key=key,
        tenant_id="ten_test",
        amount=1500,
        currency="EUR",
        method="card",
        capture=True,
        card=Card(),
        cvc="123",
        statement_descriptor=descriptor,
    )


@pytest.fixture
def sandbox(clean: Runtime) -> SandboxProcessor:
    return SandboxProcessor(clean.redis, clock=FrozenClock(datetime(2030, 1, 1, tzinfo=UTC)))


def test_the_sandbox_echoes_the_descriptor_it_puts_on_the_statement(sandbox: SandboxProcessor) -> None:
    result = sandbox.authorize(_request("pay_descriptor_1", "MUG MAKERS"))
    assert result.status is ProcessorStatus.CAPTURED
    assert result.raw_request["statement_descriptor"] == "MUG MAKERS"
    assert result.raw_response["statement_descriptor"] == "MUG MAKERS"
    assert result.reference is not None
    assert sandbox.charge(result.reference)["statement_descriptor"] == "MUG MAKERS"
    assert "MUG MAKERS" in repr(_request("pay_descriptor_1", "MUG MAKERS"))


def test_the_sandbox_without_a_descriptor_uses_its_default(sandbox: SandboxProcessor) -> None:
    result = sandbox.authorize(_request("pay_descriptor_2", None))
    assert result.status is ProcessorStatus.CAPTURED
    assert result.raw_request["statement_descriptor"] is None


@pytest.mark.parametrize("bad", ["mug makers", "ABC", "CAFÉ OLÉ", "<SCRIPT>"])
def test_the_sandbox_declines_a_descriptor_the_networks_would_refuse(
    sandbox: SandboxProcessor, bad: str
) -> None:
    result = sandbox.authorize(_request(f"pay_descriptor_bad_{bad}", bad))
    assert result.status is ProcessorStatus.DECLINED
    assert result.code == "invalid_statement_descriptor"
    assert result.reference is None
