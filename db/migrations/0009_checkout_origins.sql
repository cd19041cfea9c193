-- The origins (scheme://host[:port]) allowed to embed a merchant's hosted checkout and to receive
-- its results by postMessage. Empty = none configured: the demo lets any origin embed (today's
-- behaviour), production lets none until the merchant sets them.
ALTER TABLE merchants
    ADD COLUMN checkout_origins text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(checkout_origins) <= 20);
