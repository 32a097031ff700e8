"""Locality rules: built-in defaults, the tenant's "*" and per-country layers, surcharge arithmetic."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from core.errors import Conflict, InvalidInput
from core.jobs.runtime import Runtime
from core.locality import service as locality
from core.locality import versions
from core.locality.models import LocalityRule
from core.locality.service import LocalityRules
from tests.fixtures import Factories
from tests.payments_helpers import SHOPPER

ALL = ["card", "wallet", "bank"]


def add_rule(rt: Runtime, tenant_id: str, **data: Any) -> str:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        rule = locality.create(
            uow.session, rt.context(uow, SHOPPER), tenant_id=tenant_id, livemode=False, data=data
        )
        return rule.id


def rules(
    rt: Runtime, tenant_id: str, country: str, currency: str = "EUR", methods: list[str] = ALL
) -> LocalityRules:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return locality.rules_for(
            uow.session, livemode=False, country=country, currency=currency, methods=methods
        )


def test_built_in_defaults(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    us, de = rules(clean, tenant.id, "US", "USD"), rules(clean, tenant.id, "DE")
    assert us.required_fields == {"postal_code"} and de.required_fields == frozenset()
    assert not us.three_ds_required and not de.three_ds_required  # frictionless by default: 4242 succeeds
    assert us.surcharge_bps == de.surcharge_bps == 0
    assert us.default_language == de.default_language == "en"
    assert "Sparkasse" in de.banks and us.banks == locality.DEFAULT_BANKS
    assert de.methods == ("card", "wallet", "bank") and de.min_amount is None and de.max_amount is None
    assert rules(clean, tenant.id, "DE", methods=["bank", "card"]).methods == ("bank", "card")


def test_a_countrys_rule_wins_field_by_field_over_the_rule_for_all(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    add_rule(
        clean,
        tenant.id,
        country="*",
        methods=["card", "bank"],
        three_ds="required",
        default_language="fr",
        amount_limits=[{"currency": "EUR", "min": 100}, {"currency": "USD", "max": 90000}],
    )
    add_rule(
        clean, tenant.id, country="NL", methods=["bank"], amount_limits=[{"currency": "EUR", "max": 5000}]
    )
    nl, fr = rules(clean, tenant.id, "NL"), rules(clean, tenant.id, "FR")
    assert nl.methods == ("bank",) and fr.methods == ("card", "bank")
    assert nl.three_ds_required and fr.three_ds_required  # NL says nothing of 3DS: "*" decides
    assert nl.default_language == fr.default_language == "fr"
    assert (nl.min_amount, nl.max_amount) == (None, 5000)  # NL's own EUR limit replaces the "*" one
    assert (fr.min_amount, fr.max_amount) == (100, None)
    nl_usd = rules(clean, tenant.id, "NL", "USD")
    assert (nl_usd.min_amount, nl_usd.max_amount) == (None, 90000)  # NL has no USD entry: "*" decides
    assert rules(clean, tenant.id, "US", "USD").required_fields == {"postal_code"}  # built-in kept


def test_null_clears_a_field_so_the_next_layer_decides(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants(country="US", currency="USD")
    rule_id = add_rule(clean, tenant.id, country="US", required_fields=[], three_ds="required")
    assert rules(clean, tenant.id, "US", "USD").required_fields == frozenset()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        locality.update(
            uow.session,
            clean.context(uow, SHOPPER),
            livemode=False,
            rule_id=rule_id,
            changes={"required_fields": None, "three_ds": None},
        )
    back = rules(clean, tenant.id, "US", "USD")
    assert back.required_fields == {"postal_code"} and not back.three_ds_required


def test_surcharges_apply_only_where_the_law_allows_them(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants(country="US", currency="USD")
    with pytest.raises(InvalidInput, match="not allowed in DE") as refused:
        add_rule(clean, tenant.id, country="DE", surcharge_bps=100)
    assert refused.value.param == "surcharge_bps"
    add_rule(clean, tenant.id, country="*", surcharge_bps=150)
    assert rules(clean, tenant.id, "US", "USD").surcharge_bps == 150
    assert rules(clean, tenant.id, "DE").surcharge_bps == 0  # the rule for all skips the EU/EEA and UK
    assert rules(clean, tenant.id, "GB", "GBP").surcharge_bps == 0


def test_one_rule_per_country(clean: Runtime, make: Factories) -> None:
    tenant, other = make.tenants(), make.tenants()
    first = add_rule(clean, tenant.id, country="DE", methods=["card"])
    with pytest.raises(Conflict, match=first):
        add_rule(clean, tenant.id, country="de", three_ds="required")
    add_rule(clean, other.id, country="DE", methods=["bank"])  # another tenant's rule is its own
    assert rules(clean, tenant.id, "DE").methods == ("card",)
    assert rules(clean, other.id, "DE").methods == ("bank",)


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"country": "XX"}, "country"),
        ({"methods": []}, "methods"),
        ({"methods": ["card", "card"]}, "methods"),
        ({"methods": ["cash"]}, "methods"),
        ({"required_fields": ["phone"]}, "required_fields"),
        ({"surcharge_bps": 301}, "surcharge_bps"),
        ({"surcharge_bps": -1}, "surcharge_bps"),
        ({"surcharge_bps": True}, "surcharge_bps"),
        ({"three_ds": "always"}, "three_ds"),
        ({"default_language": "ja"}, "default_language"),
        ({"amount_limits": [{"currency": "EUR"}]}, "amount_limits"),
        ({"amount_limits": [{"currency": "EUR", "min": 500, "max": 100}]}, "amount_limits"),
        ({"amount_limits": [{"currency": "EUR", "min": 1}, {"currency": "eur", "max": 9}]}, "amount_limits"),
        ({"amount_limits": [{"currency": "EUR", "min": 1.5}]}, "amount_limits.min"),
        ({"amount_limits": [{"currency": "EUR", "least": 1}]}, "amount_limits"),
        ({"amount_limits": {"EUR": 1}}, "amount_limits"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_stored(
    clean: Runtime, make: Factories, data: dict[str, Any], param: str
) -> None:
    tenant = make.tenants(country="US", currency="USD")
    with pytest.raises(InvalidInput) as refused:
        add_rule(clean, tenant.id, **{"country": "US", **data})
    assert refused.value.param == param
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalars(select(LocalityRule)).all() == []


def test_problems_are_named() -> None:
    ruled = LocalityRules(country="DE", currency="EUR", methods=("card",), min_amount=100, max_amount=5000)
    assert ruled.problem(99) == "amount_too_small" and "at least €1.00" in (ruled.refusal(99) or "")
    assert ruled.problem(5001) == "amount_too_large" and "at most €50.00" in (ruled.refusal(5001) or "")
    assert ruled.problem(100) is None and ruled.problem(5000) is None and ruled.refusal(2500) is None
    assert LocalityRules(country="DE", currency="EUR", methods=()).problem(2500) == "no_method"


@given(
    amount=st.integers(min_value=1, max_value=999_999_999_999), bps=st.integers(min_value=0, max_value=300)
)
def test_a_surcharge_is_the_rounded_share_of_card_payments_only(amount: int, bps: int) -> None:
    ruled = LocalityRules(country="US", currency="USD", methods=("card", "wallet"), surcharge_bps=bps)
    surcharge = ruled.surcharge_on(amount, "card")
    exact = Decimal(amount) * bps / 10_000
    assert surcharge == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert abs(surcharge - exact) <= Decimal("0.5")
    assert 0 <= surcharge <= amount * 3 // 100 + 1
    assert ruled.surcharge_on(amount, "wallet") == ruled.surcharge_on(amount, "bank") == 0


def test_a_method_limit_withholds_the_method_at_the_amount_only() -> None:
    layers = [
        {"country": "*", "method_limits": [{"method": "bank", "currency": "EUR", "min": 500}]},
        {"country": "DE", "method_limits": [{"method": "wallet", "currency": "EUR", "max": 10_000}]},
    ]
    at_120 = locality.resolve(layers, country="DE", currency="EUR", methods=ALL, amount=12_000)
    assert at_120.methods == ("card", "bank") and at_120.withheld == (("wallet", None, 10_000),)
    at_4 = locality.resolve(layers, country="DE", currency="EUR", methods=ALL, amount=400)
    assert at_4.methods == ("card", "wallet")  # the "*" rule's bank minimum applies in DE too
    assert locality.resolve(layers, country="DE", currency="USD", methods=ALL, amount=12_000).methods == (
        "card",
        "wallet",
        "bank",
    )  # limits are per currency
    assert locality.resolve(layers, country="DE", currency="EUR", methods=ALL).methods == tuple(ALL)


def test_the_rules_in_force_are_the_versions_at_the_moment_asked(clean: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    add_rule(clean, tenant.id, country="DE", methods=["card"])
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = clean.context(uow, SHOPPER)
        now = ctx.clock.now()
        versions.create(
            uow.session,
            ctx,
            tenant_id=tenant.id,
            livemode=False,
            rules=[{"country": "DE", "methods": ["bank"]}],
            effective_at=now + timedelta(hours=1),
        )

    def methods_at(delta: timedelta) -> tuple[str, ...]:
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            return locality.rules_for(
                uow.session, livemode=False, country="DE", currency="EUR", methods=ALL, at=now + delta
            ).methods

    assert methods_at(timedelta(minutes=-1)) == tuple(ALL)  # before the first version: Kassa's defaults
    assert methods_at(timedelta(0)) == ("card",)
    assert methods_at(timedelta(minutes=59)) == ("card",)
    assert methods_at(timedelta(hours=1)) == ("bank",)
