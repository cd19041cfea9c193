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
    )
