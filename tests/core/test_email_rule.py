"""One email rule (core.geo.is_email) for the CLI, the portal's sign-in form and the checkout."""

from __future__ import annotations

import pytest

from core.geo import is_email

#: Special-use and reserved domains (RFC 2606, RFC 6761) are what a merchant's test setup uses.
ACCEPTED = [
    "owner@demo.kassa.test",
    "owner@shop.test",
    "ann@acme.example",
    "dev@app.localhost",
    "ada@example.com",
    "o'brien+orders@shop.co.uk",
    "first.last@mail.invalid",
    "jörg@bücher.de",
    "info@xn--bcher-kva.de",
]
REFUSED = [
    "",
    "owner",
    "owner@",
    "@shop.test",
    "owner@localhost",  # one label: no domain is globally named like this
    "a@@shop.test",
    "a@b@shop.test",
    "a b@shop.test",
    "owner@shop.test ",
    "owner@shop.test\n",
    ".owner@shop.test",
    "owner.@shop.test",
    "ow..ner@shop.test",
    "owner@shop..test",
    "owner@-shop.test",
    "owner@shop-.test",
    "owner@shop.t",
    "owner@10.0.0.1",
    "owner@shop_1.test",
    "<owner>@shop.test",
    "owner@shop.test,other@shop.test",
    "a" * 65 + "@shop.test",
    "a@" + "b" * 64 + ".test",
    "a@" + ("b" * 60 + ".") * 5 + "test",  # a domain over 253 characters
    "a" * 64 + "@" + ("b" * 60 + ".") * 5 + "test",  # over 320 characters
]


@pytest.mark.parametrize("address", ACCEPTED)
def test_addresses_including_special_use_domains_are_accepted(address: str) -> None:
    assert is_email(address)


@pytest.mark.parametrize("address", REFUSED)
def test_garbage_is_refused(address: str) -> None:
    assert not is_email(address)
