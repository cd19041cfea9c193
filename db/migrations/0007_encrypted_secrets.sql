-- Merchant secrets at rest: sealed (AES-256-GCM) instead of plain text.
--
-- *_sealed hold VERSION || nonce || ciphertext+tag (gateway/vault.py), bound to their merchant id
-- and column name, under a key derived from the server key, which never enters the database.
-- api_secret_mac is a keyed HMAC of the API secret: authentication compares it in constant time
-- and never decrypts.
--
-- SQL cannot encrypt (the key is not here), so this file only makes room: `gateway` converts
-- existing rows in Python right after migrating (merchants.seal_legacy_secrets, run by every
-- `gateway migrate` / `run` / `api` start), in one transaction, clearing the plain text.
--
-- The old columns stay, nullable, for that conversion to read; after it they are NULL in every
-- row and nothing writes them again. They are not dropped here because the data must move
-- first, and only Python can move it. A later migration may drop them once every deployment has
-- started a gateway with this one; it should begin by refusing to run while any of them is not
-- NULL, so that skipping a release cannot lose a secret.
--
-- Each secret is in exactly one form at a time (the CHECKs below): plain (a row not converted
-- yet) or sealed, never both and never neither.

ALTER TABLE merchants
    ALTER COLUMN api_secret DROP NOT NULL,
    ALTER COLUMN webhook_secret DROP NOT NULL,
    ADD COLUMN api_secret_mac bytea CHECK (octet_length(api_secret_mac) = 32),
    ADD COLUMN api_secret_sealed bytea,
    ADD COLUMN webhook_secret_sealed bytea,
    ADD COLUMN previous_webhook_secret_sealed bytea,
    ADD CONSTRAINT merchants_api_secret_one_form CHECK (
        num_nonnulls(api_secret, api_secret_sealed) = 1
        AND (api_secret_sealed IS NULL) = (api_secret_mac IS NULL)
    ),
    ADD CONSTRAINT merchants_webhook_secret_one_form CHECK (
        num_nonnulls(webhook_secret, webhook_secret_sealed) = 1
    ),
    ADD CONSTRAINT merchants_previous_webhook_secret_one_form CHECK (
        num_nonnulls(previous_webhook_secret, previous_webhook_secret_sealed) <= 1
    );

COMMENT ON COLUMN merchants.api_secret IS
    'Legacy plain text, NULL once converted (0007); read only by merchants.seal_legacy_secrets';
COMMENT ON COLUMN merchants.webhook_secret IS
    'Legacy plain text, NULL once converted (0007); read only by merchants.seal_legacy_secrets';
COMMENT ON COLUMN merchants.previous_webhook_secret IS
    'Legacy plain text, NULL once converted (0007); read only by merchants.seal_legacy_secrets';
