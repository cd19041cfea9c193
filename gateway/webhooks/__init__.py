"""Merchant-facing webhook helpers (verify). Importing this package pulls in nothing else."""
