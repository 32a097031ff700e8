from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select, text

from core.clock import FrozenClock
from core.context import Actor
from core.errors import AuthenticationFailed, Conflict, InvalidInput
from core.jobs.runtime import Runtime
from tenants.models import ApiKey, KeyKind, Role, User
from tenants.resolution import memberships_of, owner_of_key
from tenants.service import check_password, check_totp, create_tenant, create_user
from tests.factories import PASSWORD
from tests.fixtures import Factories, inspector


def _create(rt: Runtime, **fields: str) -> None:
    values = {"name": "Acme", "slug": "acme", "country": "DE", "currency": "EUR", **fields}
    with rt.db.unit_of_work() as uow:
        create_tenant(uow.session, rt.context(uow, Actor.system("test")), **values)


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("slug", "Not A Slug", "slug"),
        ("slug", "-acme", "slug"),
        ("country", "XX", "country"),
        ("country", "Germany", "country"),
        ("currency", "EURO", "currency"),
        ("currency", "ABC", "currency"),
        ("name", "   ", "name"),
    ],
)
def test_bad_tenant_fields_are_refused_and_change_nothing(
    clean: Runtime, field: str, value: str, param: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        _create(clean, **{field: value})
    assert info.value.param == param
    with clean.db.owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tenants")).scalar_one() == 0


def test_a_slug_is_taken_once(clean: Runtime) -> None:
    _create(clean)
    with pytest.raises(Conflict, match="already exists"):
        _create(clean, name="Other")


def test_secret_keys_are_stored_only_as_hashes(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        keys = uow.session.scalars(select(ApiKey)).all()
    secret = next(k for k in keys if k.kind is KeyKind.SECRET)
    assert a.keys.secret_key.startswith("sk_test_") and a.keys.publishable_key.startswith("pk_test_")
    assert secret.display == f"sk_test_…{a.keys.secret_key[-4:]}"
    with inspector(clean).connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_keys")) for v in row)
        audit_dump = b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for row in conn.execute(text("SELECT * FROM audit_events"))
            for v in row
        )
    assert a.keys.secret_key not in dump
    assert a.keys.secret_key.encode() not in audit_dump


def test_keys_resolve_to_their_tenant(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    with clean.db.unit_of_work() as uow:
        owner_a = owner_of_key(uow.session, a.keys.secret_key, now=clean.clock.now())
        owner_b = owner_of_key(uow.session, b.keys.publishable_key, now=clean.clock.now())
        assert owner_a is not None and owner_a.tenant_id == a.id and owner_a.kind is KeyKind.SECRET
        assert owner_b is not None and owner_b.tenant_id == b.id and owner_b.kind is KeyKind.PUBLISHABLE
        assert owner_of_key(uow.session, a.keys.secret_key + "x", now=clean.clock.now()) is None
        assert owner_of_key(uow.session, "", now=clean.clock.now()) is None


def test_a_user_can_belong_to_several_tenants(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    with clean.db.unit_of_work(tenant_id=b.id) as uow:
        create_user(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=b.id,
            email=a.owner_email.upper(),
            role="analyst",
            password=PASSWORD,
            totp_secret=None,
        )
    with clean.db.unit_of_work() as uow:
        assert memberships_of(uow.session, a.owner.id) == [(a.id, Role.OWNER), (b.id, Role.ANALYST)]


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("role", "god"), ("password", "short"), ("totp_secret", "not base32!")],
)
def test_bad_user_fields_are_refused(make: Factories, clean: Runtime, field: str, value: str) -> None:
    a = make.tenants()
    fields = {
        "email": "new@example.com",
        "role": "admin",
        "password": PASSWORD,
        "totp_secret": None,
        field: value,
    }
    with pytest.raises(InvalidInput) as info, clean.db.unit_of_work(tenant_id=a.id) as uow:
        create_user(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=a.id,
            **fields,
        )  # type: ignore[arg-type]
    assert info.value.param == field


def test_passwords_and_totp_seeds_are_never_stored_in_the_clear(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    with clean.db.owner_engine.connect() as conn:
        row = conn.execute(text("SELECT password_hash, totp_secret_encrypted FROM users")).one()
    assert row[0].startswith("$argon2id$") and PASSWORD not in row[0]
    assert a.totp_secret.encode() not in bytes(row[1])


def test_password_check(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    with clean.db.unit_of_work() as uow:
        assert check_password(uow.session, email=a.owner_email.upper(), password=PASSWORD).id == a.owner.id
        for email, password in ((a.owner_email, "wrong password!"), ("nobody@example.com", PASSWORD)):
            with pytest.raises(AuthenticationFailed, match="Email or password is incorrect"):
                check_password(uow.session, email=email, password=password)


def test_a_totp_code_is_accepted_once(make: Factories, clean: Runtime) -> None:
    a = make.tenants()
    clock = FrozenClock(clean.clock.now())
    code = pyotp.TOTP(a.totp_secret).at(clock.now())
    with clean.db.unit_of_work() as uow:
        user = uow.session.get(User, a.owner.id)
        assert user is not None
        assert not check_totp(
            user, code="000000" if code != "000000" else "111111", kms=clean.kms, clock=clock
        )
        assert check_totp(user, code=code, kms=clean.kms, clock=clock)
        assert not check_totp(user, code=code, kms=clean.kms, clock=clock)  # replayed
        clock.advance(seconds=30)
        assert check_totp(user, code=pyotp.TOTP(a.totp_secret).at(clock.now()), kms=clean.kms, clock=clock)
