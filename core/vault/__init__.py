"""The card vault: tokenization, envelope encryption under per-tenant data keys, master-key rotation.

The public functions live in `core.vault.service`; nothing outside this package reads the vault tables.
"""
