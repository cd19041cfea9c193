"""A payment gateway: orders, payments, refunds, idempotency and signed webhooks."""
