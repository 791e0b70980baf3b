"""Delivery: the outbox, its workers, receipts and rate limits, the sandbox channel."""
