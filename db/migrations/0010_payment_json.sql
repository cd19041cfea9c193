-- The webhook body of a payment event, rendered by PostgreSQL, so that creating and processing a
-- payment are one statement each (the state change, its events, their delivery logs and its jobs)
-- instead of a round trip per step with the body rendered in Python in between.
--
-- The bytes must equal what gateway/webhooks/signing.py renders for the same payment (JavaScript's
-- JSON.stringify of the parsed object: compact, keys in the API's order, non-ASCII kept as UTF-8);
-- tests/test_payment_json.py compares the two on every shape of payment. to_json(text) escapes a
-- string exactly as JSON.stringify does (\" \\ \b \f \n \r \t, other controls as \u00XX).

-- ISO-8601 UTC with a Z at second precision (truncated), as serialize.timestamp.
CREATE FUNCTION gateway_timestamp_json(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ts IS NULL THEN 'null'
        ELSE '"' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"' END;

-- A JSON string, or null.
CREATE FUNCTION gateway_text_json(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN coalesce(to_json(value)::text, 'null');

-- payments.Payment.out(): the API's payment object, key for key.
CREATE FUNCTION gateway_payment_json(p payments) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN '{"id":' || gateway_text_json(p.id)
        || ',"order_id":' || gateway_text_json(p.order_id)
        || ',"amount":' || p.amount
        || ',"currency":' || gateway_text_json(p.currency)
        || ',"method":' || gateway_text_json(p.method)
        || CASE WHEN p.method = 'upi' THEN ',"vpa":' || gateway_text_json(p.vpa)
            ELSE ',"card_network":' || gateway_text_json(p.card_network)
                || ',"card_last4":' || gateway_text_json(p.card_last4) END
        || ',"status":' || gateway_text_json(p.status)
        || ',"captured":' || CASE WHEN p.captured THEN 'true' ELSE 'false' END
        || ',"error_code":' || gateway_text_json(p.error_code)
        || ',"error_description":' || gateway_text_json(p.error_description)
        || ',"amount_refunded":' || p.amount_refunded
        || ',"created_at":' || gateway_timestamp_json(p.created_at)
        || ',"updated_at":' || gateway_timestamp_json(p.updated_at)
        || '}';

-- signing.payload_bytes(event, timestamp, {"payment": …}).
CREATE FUNCTION gateway_payment_event(event text, ts bigint, p payments) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN '{"event":' || gateway_text_json(event) || ',"timestamp":' || ts
        || ',"data":{"payment":' || gateway_payment_json(p) || '}}';
