"""Shared pytest fixtures for tests/ and e2e/ live in tests/fixtures.py (the SMTP server in
tests/smtp_server.py, the OpenID provider in tests/oidc_provider.py)."""

pytest_plugins = ["tests.fixtures", "tests.smtp_server", "tests.oidc_provider", "tests.pgbouncer"]
