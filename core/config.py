"""Settings, read once from the environment.

`Settings.from_env()` is called by `create_app()` and by the worker and cron entry points; nothing reads
`os.environ` anywhere else, so a test can build a `Settings` by hand and get exactly what it asked for.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Self
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url

#: Development-only secrets. Refused in production, and wherever the base URL is not localhost.
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105  (a marked development default, refused in production)
DEV_MASTER_KEY = base64.b64encode(b"kassa-dev-master-key-32-bytes!!!").decode()
DEFAULT_DATABASE_URL = "sqlite:///instance/kassa.sqlite3"
#: `fakeredis://` selects the in-process Redis stand-in: one shared server per process.
FAKE_REDIS_URL = "fakeredis://"
APP_ROLE = "kassa_app"
#: The NOLOGIN BYPASSRLS role that owns the SECURITY DEFINER lookup functions and nothing else.
DEFINER_ROLE = "kassa_definer"
#: Development mail: each message becomes an .eml file in instance/mail (core/mail); refused in production.
DEV_MAIL_URL = "file:instance/mail"
DEV_MAIL_FROM = "Kassa <receipts@localhost>"
MAIL_SCHEMES = ("smtp", "smtps", "file")
#: The events API keeps events at least this many days (KASSA_EVENT_RETENTION_DAYS may only lengthen it).
MIN_EVENT_RETENTION_DAYS = 90
ALL_SURFACES: tuple[str, ...] = ("checkout", "portal", "api")
#: `Settings.password_hashing`: argon2id at full cost (tenants/passwords.py), the only choice outside tests.
PASSWORD_HASHING = "argon2id"  # noqa: S105  (a hasher's name, not a password)
#: argon2id at argon2's minimum cost, for the test suite only: needs KASSA_ENV=test and a localhost base URL.
CHEAP_PASSWORD_HASHING = "argon2id-cheap"  # noqa: S105  (a hasher's name, not a password)


class ConfigurationError(Exception):
    """The environment asks for something Kassa cannot run with; the message says what to change."""


@dataclass(frozen=True)
class Settings:
    #: Owner-role URL: migrations and administrative CLI commands.
    database_url: str = DEFAULT_DATABASE_URL
    #: Application-role URL: every web request and job. Derived from `database_url` when unset.
    database_app_url: str | None = None
    #: The role that owns the cross-tenant SECURITY DEFINER functions (`kassa db bootstrap-roles`).
    definer_role: str = DEFINER_ROLE
    #: Where report queries (the reports page, `GET /api/v1/reports/summary`, exports) read, e.g. a
    #: read replica as the application role; None: the application database (docs/reports.md).
    analytics_database_url: str | None = None
    #: What sits between Kassa and PostgreSQL (`DATABASE_POOLER`): "" (nothing, or a pooler in session
    #: mode) or "transaction" (pgbouncer `pool_mode = transaction`: no server-side prepared statements).
    database_pooler: str = ""
    redis_url: str = FAKE_REDIS_URL
    secret_key: str = DEV_SECRET_KEY
    #: Base64 of 32 random bytes; wraps the per-tenant data keys (see core/kms.py).
    master_key: str = DEV_MASTER_KEY
    #: Base64 master keys being rotated away from: still opened, never used to seal (`kassa keys rotate`).
    previous_master_keys: tuple[str, ...] = ()
    base_url: str = "http://127.0.0.1:5000"
    surfaces: tuple[str, ...] = ALL_SURFACES
    #: "development", "test" or "production". Production refuses development secrets.
    environment: str = "development"
    log_level: str = "INFO"
    #: How many reverse proxies in front of Kassa set X-Forwarded-For/-Proto (0: trust none).
    trusted_proxies: int = 0
    #: Where emailed receipts go: smtp://user:pass@host:port (STARTTLS when offered), smtps:// (TLS from the
    #: first byte) or file:<directory> (one .eml file per message, the development default).
    mail_url: str = DEV_MAIL_URL
    #: The From header of emailed receipts.
    mail_from: str = DEV_MAIL_FROM
    #: Days a card number is kept after its payment's last state change (the refund window; no saved-card
    #: use yet), then purged (`core/vault/lifetimes.py`). Brand, last four and fingerprint stay.
    card_retention_days: int = 180
    #: Days events are kept (`GET /api/v1/events`, webhook replays), then pruned by `kassa cron`; at least 90
    #: (the events API's promise), except for an event a webhook delivery still retries.
    event_retention_days: int = 90
    #: Days a tenant's card data key seals before `kassa cron` rotates it (and re-encrypts its cards).
    data_key_max_age_days: int = 365
    #: Which password hasher (tenants/passwords.py). Not read from the environment: only code (the test
    #: suite) can ask for the cheap one, and `validate` refuses it outside KASSA_ENV=test on localhost.
    password_hashing: str = PASSWORD_HASHING
    #: Development and tests only (KASSA_WEBHOOKS_ALLOW_PRIVATE=1): webhook endpoints may point at loopback
    #: and private addresses. Refused in production: it lifts the SSRF protection (docs/webhooks.md).
    webhooks_allow_private: bool = False
    #: Seconds a webhook delivery may take (connect and answer) before it counts as failed.
    webhook_timeout_seconds: float = 15.0
    #: Deliveries to one endpoint in flight at once, across all workers (fair queueing, docs/webhooks.md).
    webhook_endpoint_concurrency: int = 2
    #: Slugs of the tenants whose owners and admins run the platform: only they see the portal's
    #: operations status page (`KASSA_OPERATOR_TENANTS`, comma-separated; docs/operations.md).
    operator_tenants: tuple[str, ...] = ()
    #: The bearer token `/metrics` of a web process asks for (`KASSA_METRICS_TOKEN`); None: no /metrics
    #: on the web process (a 404). Workers serve theirs on `kassa worker --metrics-port`.
    metrics_token: str | None = field(default=None, repr=False)
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        surfaces = tuple(
            s.strip() for s in env.get("KASSA_SURFACES", ",".join(ALL_SURFACES)).split(",") if s.strip()
        )
        settings = cls(
            database_url=with_driver(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
            database_app_url=with_driver(env.get("DATABASE_APP_URL", "")) or None,
            definer_role=env.get("DATABASE_DEFINER_ROLE", "").strip() or DEFINER_ROLE,
            analytics_database_url=with_driver(env.get("ANALYTICS_DATABASE_URL", "")) or None,
            database_pooler=env.get("DATABASE_POOLER", "").strip().lower(),
            redis_url=env.get("REDIS_URL", FAKE_REDIS_URL),
            secret_key=env.get("KASSA_SECRET_KEY", DEV_SECRET_KEY),
            master_key=env.get("KASSA_MASTER_KEY", DEV_MASTER_KEY),
            previous_master_keys=tuple(
                k.strip() for k in env.get("KASSA_PREVIOUS_MASTER_KEYS", "").split(",") if k.strip()
            ),
            base_url=env.get("KASSA_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            surfaces=surfaces,
            environment=env.get("KASSA_ENV", "development"),
            log_level=env.get("KASSA_LOG_LEVEL", "INFO"),
            trusted_proxies=_int(env, "KASSA_TRUSTED_PROXIES", 0),
            mail_url=env.get("KASSA_MAIL_URL") or DEV_MAIL_URL,
            mail_from=env.get("KASSA_MAIL_FROM") or DEV_MAIL_FROM,
            card_retention_days=_int(env, "KASSA_CARD_RETENTION_DAYS", 180),
            data_key_max_age_days=_int(env, "KASSA_DATA_KEY_MAX_AGE_DAYS", 365),
            event_retention_days=_int(env, "KASSA_EVENT_RETENTION_DAYS", 90),
            webhooks_allow_private=env.get("KASSA_WEBHOOKS_ALLOW_PRIVATE", "") == "1",
            operator_tenants=tuple(
                s.strip() for s in env.get("KASSA_OPERATOR_TENANTS", "").split(",") if s.strip()
            ),
            metrics_token=env.get("KASSA_METRICS_TOKEN", "").strip() or None,
        )
        settings.validate()
        return settings

    def with_changes(self, **changes: object) -> Settings:
        new = replace(self, **changes)  # type: ignore[arg-type]
        new.validate()
        return new

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure (and `__Host-` prefixed) whenever Kassa is served over https."""
        return self.base_url.startswith("https://")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_local(self) -> bool:
        """True when Kassa is served on this machine only (a localhost or loopback base URL): the one
        place the development secrets and plain http are allowed."""
        host = urlsplit(self.base_url).hostname or ""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_fake_redis(self) -> bool:
        return self.redis_url.startswith("fakeredis")

    @property
    def mail_scheme(self) -> str:
        return self.mail_url.partition(":")[0].lower()

    @property
    def app_database_url(self) -> str:
        """The URL the application connects with: never the owner role on PostgreSQL."""
        if self.database_app_url:
            return self.database_app_url
        if self.is_sqlite:
            return self.database_url
        owner = make_url(self.database_url)
        # No password: the owner's must not travel to another role. Set DATABASE_APP_URL to give one.
        url = URL.create(
            owner.drivername,
            username=APP_ROLE,
            host=owner.host,
            port=owner.port,
            database=owner.database,
            query=owner.query,
        )
        return url.render_as_string(hide_password=False)

    def master_key_bytes(self) -> bytes:
        return base64.b64decode(self.master_key)

    def previous_master_keys_bytes(self) -> tuple[bytes, ...]:
        return tuple(base64.b64decode(k) for k in self.previous_master_keys)

    def validate(self) -> None:
        unknown = set(self.surfaces) - set(ALL_SURFACES)
        if unknown or not self.surfaces:
            raise ConfigurationError(
                f"KASSA_SURFACES must name some of {', '.join(ALL_SURFACES)}; "
                f"got {','.join(self.surfaces)!r}."
            )
        if self.database_pooler not in ("", "session", "transaction"):
            raise ConfigurationError(
                f"DATABASE_POOLER must be transaction, session or empty; got {self.database_pooler!r}."
            )
        if self.environment not in ("development", "test", "production"):
            raise ConfigurationError("KASSA_ENV must be development, test or production.")
        try:
            key = base64.b64decode(self.master_key, validate=True)
        except ValueError as exc:
            raise ConfigurationError("KASSA_MASTER_KEY must be base64 of 32 random bytes.") from exc
        if len(key) != 32:
            raise ConfigurationError(
                "KASSA_MASTER_KEY must be base64 of 32 random bytes; make one with: "
                "python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'"
            )
        for position, previous in enumerate(self.previous_master_keys, start=1):
            try:
                old = base64.b64decode(previous, validate=True)
            except ValueError:
                old = b""
            if len(old) != 32:
                # The position, never the value: this message ends up in logs.
                raise ConfigurationError(
                    "KASSA_PREVIOUS_MASTER_KEYS must be comma-separated base64 keys of 32 bytes each; "
                    f"entry {position} is not."
                )
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigurationError("KASSA_METRICS_TOKEN must be at least 16 characters (a random secret).")
        if self.mail_scheme not in MAIL_SCHEMES:
            # The scheme only: the URL may carry the SMTP password, and this message ends up in logs.
            raise ConfigurationError(
                f"KASSA_MAIL_URL must start with smtp://, smtps:// or file:; got {self.mail_scheme}:."
            )
        if self.card_retention_days < 1 or self.data_key_max_age_days < 1:
            raise ConfigurationError(
                "KASSA_CARD_RETENTION_DAYS and KASSA_DATA_KEY_MAX_AGE_DAYS must be whole numbers of days, "
                "1 or more."
            )
        if self.event_retention_days < MIN_EVENT_RETENTION_DAYS:
            raise ConfigurationError(
                f"KASSA_EVENT_RETENTION_DAYS must be {MIN_EVENT_RETENTION_DAYS} or more: the events API "
                f"keeps events at least {MIN_EVENT_RETENTION_DAYS} days; got {self.event_retention_days}."
            )
        self.check_password_hashing()
        if self.webhooks_allow_private and self.is_production:
            raise ConfigurationError(
                "KASSA_WEBHOOKS_ALLOW_PRIVATE=1 lifts the webhooks' SSRF protection: "
                "development and tests only."
            )
        if self.is_production:
            self.check_production()
        elif not self.is_local:
            self.check_public()

    def check_password_hashing(self) -> None:
        """The cheap password hasher runs in the test suite only: never in production, never reachable
        from other machines (and never by a forgotten variable: no environment variable selects it)."""
        if self.password_hashing == PASSWORD_HASHING:
            return
        if self.password_hashing != CHEAP_PASSWORD_HASHING:
            raise ConfigurationError(
                f"password_hashing must be {PASSWORD_HASHING!r} or {CHEAP_PASSWORD_HASHING!r}; "
                f"got {self.password_hashing!r}."
            )
        if self.environment != "test" or not self.is_local:
            where = f"KASSA_ENV={self.environment}"
            if not self.is_local:
                where += " with a base URL that is not localhost"
            raise ConfigurationError(
                f"Refusing to start: the {CHEAP_PASSWORD_HASHING} password hasher is for the test suite "
                f"only (KASSA_ENV=test on a localhost base URL), and this is {where}. "
                f"Production hashes passwords with {PASSWORD_HASHING} at full cost."
            )

    def _public_problems(self) -> list[str]:
        """What no Kassa reachable from other machines may run with, whatever KASSA_ENV says."""
        problems = []
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("KASSA_SECRET_KEY is the development default or shorter than 32 characters")
        if self.master_key == DEV_MASTER_KEY:
            problems.append("KASSA_MASTER_KEY is the development default")
        if not self.base_url.startswith("https://"):
            problems.append("KASSA_BASE_URL must be an https:// URL")
        return problems

    def check_public(self) -> None:
        """A base URL that is not localhost means other machines reach this Kassa: the development secrets
        (public in the source) and plain http are refused even outside KASSA_ENV=production, so a
        forgotten variable cannot put a demo-keyed Kassa on a network."""
        problems = self._public_problems()
        if problems:
            # The host only: nothing else of the URL (say, credentials in it) belongs in a log line.
            host = urlsplit(self.base_url).hostname or "no host"
            raise ConfigurationError(
                f"Refusing to start: KASSA_BASE_URL names {host}, not localhost, so this Kassa is reachable "
                "from other machines, but " + "; ".join(problems) + ". Set them in the environment "
                "(or serve on http://127.0.0.1 or http://localhost for development)."
            )

    def check_production(self) -> None:
        problems = self._public_problems()
        if self.is_sqlite:
            problems.append("DATABASE_URL points at SQLite; production runs on PostgreSQL")
        if self.uses_fake_redis:
            problems.append("REDIS_URL is the in-process stand-in; production needs a Redis server")
        if self.mail_scheme not in ("smtp", "smtps"):
            problems.append("KASSA_MAIL_URL must name an SMTP server (smtp:// or smtps://) to email receipts")
        if self.mail_from == DEV_MAIL_FROM:
            problems.append("KASSA_MAIL_FROM is the development default")
        if problems:
            raise ConfigurationError(
                "Refusing to start in production: " + "; ".join(problems) + ". Set them in the environment."
            )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number; got {raw!r}.") from None


def with_driver(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3, the driver Kassa ships with."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url
