"""Webhook bytes, signatures and the merchants' verification helper (pure functions)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import standardwebhooks

from gateway import merchants
from gateway.webhooks import signing, verify
from tests import tools

SECRET = merchants.new_webhook_secret()


def test_payload_is_compact_utf8_with_integers() -> None:
    body = signing.payload_bytes(
        "payment.success", 1705315870, {"payment": {"amount": 50000, "n": "₹ü"}}
    )
    expected = (
        '{"event":"payment.success","timestamp":1705315870,'
        '"data":{"payment":{"amount":50000,"n":"₹ü"}}}'
    )
    assert body == expected.encode()


def test_payload_is_byte_identical_to_javascript_json_stringify() -> None:
    node = tools.require("node")
    data = {
        "payment": {
            "id": "pay_x",
            "notes": {"q": 'he said "hi"\n\t\\', "e": "😀 ü \u2028", "c": "\x01"},
            "n": None,
            "b": True,
        }
    }
    body = signing.payload_bytes("payment.created", 1, data)
    js = subprocess.run(
        [
            node,
            "-e",
            "let s='';process.stdin.on('data',d=>s+=d)"
            ".on('end',()=>process.stdout.write(JSON.stringify(JSON.parse(s))))",
        ],
        input=body,
        capture_output=True,
        check=True,
    ).stdout
    assert js == body


def test_legacy_signature_is_hex_hmac_of_the_body_with_the_whole_secret() -> None:
    import hashlib
    import hmac

    body = b'{"event":"x"}'
    expected = hmac.new(b"whsec_test_abc123", body, hashlib.sha256).hexdigest()
    assert signing.legacy_signature(body, "whsec_test_abc123") == expected


def test_standard_key_decodes_generated_secrets_and_falls_back_for_the_seeded_one() -> None:
    assert len(signing.standard_key(SECRET)) == 32
    assert signing.standard_key("whsec_test_abc123") == b"whsec_test_abc123"


def test_official_standardwebhooks_library_accepts_our_signature() -> None:
    body = signing.payload_bytes("payment.success", int(time.time()), {"payment": {"id": "pay_1"}})
    headers = signing.headers("evt_abc", int(time.time()), body, SECRET)
    parsed = standardwebhooks.Webhook(SECRET).verify(body.decode(), headers)
    assert parsed["event"] == "payment.success"


def test_rotation_overlap_sends_two_valid_signatures_new_first() -> None:
    old = merchants.new_webhook_secret()
    now = int(time.time())
    body = b'{"event":"payment.success"}'
    headers = signing.headers("evt_1", now, body, SECRET, previous_secret=old)
    new_sig, old_sig = headers["webhook-signature"].split(" ")
    assert new_sig == signing.standard_signature("evt_1", now, body, SECRET)
    assert old_sig == signing.standard_signature("evt_1", now, body, old)
    assert headers["X-Webhook-Signature"] == signing.legacy_signature(body, SECRET)
    assert verify.verify(body, headers, old)["event"] == "payment.success"
    assert verify.verify(body, headers, SECRET)["event"] == "payment.success"


def _signed(secret: str = SECRET, ts: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = signing.payload_bytes("payment.success", 1, {"payment": {"id": "pay_1", "amount": 100}})
    return body, signing.headers("evt_1", ts or int(time.time()), body, secret)


def test_verify_requires_the_standard_headers_and_takes_the_legacy_one_on_request() -> None:
    body, headers = _signed()
    assert verify.verify(body, headers, SECRET)["data"]["payment"]["id"] == "pay_1"
    legacy_only = {"X-Webhook-Signature": headers["X-Webhook-Signature"]}
    with pytest.raises(verify.WebhookVerificationError, match="allow_legacy"):
        verify.verify(body, legacy_only, SECRET)
    assert verify.verify(body, legacy_only, SECRET, allow_legacy=True)["event"] == (
        "payment.success"
    )


def test_verify_with_allow_legacy_still_checks_the_standard_timestamp_when_present() -> None:
    body, headers = _signed(ts=int(time.time()) - 3600)
    with pytest.raises(verify.WebhookVerificationError) as caught:
        verify.verify(body, headers, SECRET, allow_legacy=True)
    assert caught.value.reason == "stale_timestamp"


def test_verify_reads_only_ascii_digits_as_a_timestamp() -> None:
    body, headers = _signed()
    arabic = "".join(chr(0x0660 + int(d)) for d in headers["webhook-timestamp"])
    with pytest.raises(verify.WebhookVerificationError) as caught:
        verify.verify(body, {**headers, "webhook-timestamp": arabic}, SECRET)
    assert caught.value.reason == "bad_timestamp"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b, h: (b, {}), "missing_signature"),
        (
            lambda b, h: (b, {**h, "webhook-timestamp": str(int(time.time()) - 3600)}),
            "stale_timestamp",
        ),
        (lambda b, h: (b, {**h, "webhook-timestamp": "soon"}), "bad_timestamp"),
        (lambda b, h: (json.dumps(json.loads(b), indent=1).encode(), h), "signature_mismatch"),
        (lambda b, h: (b.replace(b"100", b"900"), h), "signature_mismatch"),
    ],
)
def test_verify_says_why_it_failed(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    body, headers = _signed()
    body, headers = mutate(body, headers)
    with pytest.raises(verify.WebhookVerificationError) as caught:
        verify.verify(body, headers, SECRET)
    assert caught.value.reason == reason


def test_verify_explains_a_reserialised_body_and_a_wrong_secret() -> None:
    body, headers = _signed()
    pretty = json.dumps(json.loads(body), indent=2).encode()
    with pytest.raises(verify.WebhookVerificationError, match="re-serialised"):
        verify.verify(pretty, headers, SECRET)
    with pytest.raises(verify.WebhookVerificationError, match="wrong secret"):
        verify.verify(body, headers, merchants.new_webhook_secret())
