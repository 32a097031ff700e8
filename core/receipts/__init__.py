"""Emailed receipts: queued when a checkout payment completes or the shopper asks on the receipt page,
sent by a job through the outbox."""
