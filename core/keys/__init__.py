"""Tenant data keys: generations, sealing and keyed digests (used by core.vault and core.audit)."""
