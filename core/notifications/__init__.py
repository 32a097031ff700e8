"""The notification center: alerts for a tenant's members, in the portal (a bell and a page) and by email
through the outbox, each member choosing per kind and channel (portal, email).

Fed two ways: as an events subscriber (`jobs.notify_from_event`: payout failed, webhook endpoint failing,
dispute opened) and by a per-tenant cron job (`jobs.detect_alerts`: approval rate low, risk blocks and
processor errors spiking, core/notifications/alerts.py). docs/operations.md "Alerts and notifications".
"""
