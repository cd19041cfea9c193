"""Tasks registered on gateway.queue.app. Each takes ids only, re-reads state, does network I/O
outside transactions and is safe to run twice."""
