"""Shared pytest fixtures for tests/ and e2e/ live in tests/fixtures.py (and the SMTP server in
tests/smtp_server.py)."""

pytest_plugins = ["tests.fixtures", "tests.smtp_server"]
