"""Razorpay's shapes over our own rows: entities, the input rules Razorpay's SDKs rely on, the
/v1 operations, and the outbox of Razorpay-format webhooks. Domain code: no web framework."""
