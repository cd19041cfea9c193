"""The integration snippets on /dashboard/docs, filled with the merchant's real key and this
deployment's real URLs so they work when pasted. The API secret and the webhook secret are read
from environment variables in the snippets: a snippet is copied into code and chat, a secret
must not travel with it."""

from __future__ import annotations

from dataclasses import dataclass

from gateway import merchants, settings


@dataclass(frozen=True)
class Snippets:
    api_url: str
    checkout_url: str
    create_order: str
    sdk: str
    webhook_python: str
    webhook_node: str
    # "Coming from Razorpay": the lines that change in an existing Razorpay integration.
    razorpay_python: str
    razorpay_node: str
    razorpay_checkout: str
    razorpay_webhooks: str


def snippets(merchant: merchants.Merchant, config: settings.Settings) -> Snippets:
    api = config.public_api_url.rstrip("/")
    checkout = config.checkout_url.rstrip("/")
    key = merchant.api_key
    create_order = f"""curl -X POST {api}/api/v1/orders \\
  -H "X-Api-Key: {key}" \\
  -H "X-Api-Secret: $GATEWAY_API_SECRET" \\
  -H "Content-Type: application/json" \\
  -H "Idempotency-Key: order-receipt-123" \\
  -d '{{"amount": 50000, "currency": "INR", "receipt": "receipt-123"}}'

# 201 Created
# {{"id": "order_...", "amount": 50000, "currency": "INR", "status": "created", ...}}"""
    sdk = f"""<script src="{checkout}/checkout.js"></script>
<button id="pay">Pay ₹500.00</button>
<script>
  document.getElementById("pay").addEventListener("click", function () {{
    var checkout = new PaymentGateway({{
      key: "{key}",
      orderId: "order_...",  // created on your server with the call above
      onSuccess: function (data) {{
        // data.paymentId: confirm it on your server (GET /api/v1/payments/{{id}}) or via webhook
        window.location = "/thank-you?payment_id=" + encodeURIComponent(data.paymentId);
      }},
      onFailure: function (data) {{ console.warn("payment failed", data); }},
      onClose: function () {{ console.log("checkout closed"); }}
    }});
    checkout.open();
  }});
</script>"""
    webhook_python = f"""# Webhook receiver for the gateway account with API key {key}
import os

from fastapi import FastAPI, Request, Response
from gateway.webhooks import verify

app = FastAPI()
WEBHOOK_SECRET = os.environ["GATEWAY_WEBHOOK_SECRET"]  # whsec_... from the Webhooks page


@app.post("/webhooks/gateway")
async def gateway_webhook(request: Request) -> Response:
    body = await request.body()  # the raw bytes: re-serialised JSON no longer matches
    try:
        event = verify.verify(body, request.headers, WEBHOOK_SECRET)
    except verify.WebhookVerificationError as error:
        return Response(status_code=400, content=error.reason)
    # Delivery is at-least-once: skip a webhook-id you have already handled.
    if event["event"] == "payment.success":
        payment = event["data"]["payment"]
        ...  # mark the order paid
    return Response(status_code=200)"""
    webhook_node = f"""// Webhook receiver for the gateway account with API key {key}
const crypto = require("crypto");
const express = require("express");

const app = express();
const secret = process.env.GATEWAY_WEBHOOK_SECRET; // whsec_... from the Webhooks page

// express.raw keeps the exact bytes that were signed; express.json would re-serialise them.
app.post("/webhooks/gateway", express.raw({{ type: "application/json" }}), (req, res) => {{
  const expected = crypto.createHmac("sha256", secret).update(req.body).digest("hex");
  const given = req.get("X-Webhook-Signature") || "";
  const ok = given.length === expected.length &&
    crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected));
  if (!ok) return res.status(400).send("invalid signature");

  const event = JSON.parse(req.body.toString("utf8"));
  // Delivery is at-least-once: skip a webhook-id header you have already handled.
  if (event.event === "payment.success") {{
    const payment = event.data.payment;
    // mark the order paid
  }}
  res.sendStatus(200);
}});

app.listen(4000);"""
    return Snippets(
        api_url=api,
        checkout_url=checkout,
        create_order=create_order,
        sdk=sdk,
        webhook_python=webhook_python,
        webhook_node=webhook_node,
        **_razorpay(key, api, checkout),
    )


def _razorpay(key: str, api: str, checkout: str) -> dict[str, str]:
    """An existing Razorpay integration, pointed here: the server's base URL and the checkout
    script's source change; the rest of the code stays as it is."""
    python = f"""import os
import razorpay

client = razorpay.Client(
    auth=("{key}", os.environ["GATEWAY_API_SECRET"]),
    base_url="{api}",  # the line that changes (Razorpay's is https://api.razorpay.com)
)
order = client.order.create({{"amount": 50000, "currency": "INR", "receipt": "receipt-123"}})
# ... then, unchanged: client.payment.fetch(id), client.payment.capture(id, 50000),
# client.payment.refund(id, {{"amount": 10000}}), client.utility.verify_payment_signature(...)"""
    node = f"""const Razorpay = require("razorpay");

const razorpay = new Razorpay({{
  key_id: "{key}",
  key_secret: process.env.GATEWAY_API_SECRET,
}});
// The line that changes: the SDK has no base-URL option, its HTTP client does.
razorpay.api.rq.defaults.baseURL = "{api}";

const order = await razorpay.orders.create({{ amount: 50000, currency: "INR" }});"""
    checkout_html = f"""<!-- The line that changes; Razorpay's is
     https://checkout.razorpay.com/v1/checkout.js -->
<script src="{checkout}/checkout.js"></script>
<script>
  var rzp = new Razorpay({{
    key: "{key}",
    order_id: "order_...",  // created on your server, as before
    handler: function (response) {{
      // response.razorpay_payment_id, .razorpay_order_id, .razorpay_signature: verify on your
      // server with client.utility.verify_payment_signature (HMAC with your API secret)
    }}
  }});
  rzp.on("payment.failed", function (response) {{ console.warn(response.error); }});
  rzp.open();
</script>"""
    webhooks = f"""# Razorpay's webhook bodies and X-Razorpay-Signature instead of the classic ones
curl -X PUT {api}/api/v1/webhooks/config \\
  -H "X-Api-Key: {key}" \\
  -H "X-Api-Secret: $GATEWAY_API_SECRET" \\
  -H "Content-Type: application/json" \\
  -d '{{"url": "https://shop.example/razorpay/webhook", "format": "razorpay"}}'

# Your handler keeps verifying as it does today, with this gateway's webhook secret (whsec_...,
# Webhooks page) in place of Razorpay's:
#   client.utility.verify_webhook_signature(raw_body, headers["X-Razorpay-Signature"], secret)
#   Razorpay.validateWebhookSignature(rawBody, req.get("X-Razorpay-Signature"), secret)
# Deduplicate on X-Razorpay-Event-Id (stable across retries)."""
    return {
        "razorpay_python": python,
        "razorpay_node": node,
        "razorpay_checkout": checkout_html,
        "razorpay_webhooks": webhooks,
    }
