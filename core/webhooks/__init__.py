"""Webhooks: endpoints, Standard Webhooks signing, SSRF-safe delivery, retries, the delivery log."""
