// A merchant's server-side Razorpay integration, written with the official Node SDK (npm
// `razorpay`, pinned in package-lock.json), run against the gateway's /v1. The SDK has no
// base-URL option; its axios instance is pointed at the gateway, the one line that changes.
// Run by tests/razorpay/test_node_sdk.py with a real API server and worker:
//   GATEWAY_URL, KEY_ID, KEY_SECRET in the environment; exits non-zero on the first failure.
'use strict';

const assert = require('node:assert/strict');
const http = require('node:http');
const Razorpay = require('razorpay');
const { validatePaymentVerification } = require('razorpay/dist/utils/razorpay-utils');

const BASE = process.env.GATEWAY_URL;
const KEY_ID = process.env.KEY_ID;
const KEY_SECRET = process.env.KEY_SECRET;
const CLASSIC = { 'X-Api-Key': KEY_ID, 'X-Api-Secret': KEY_SECRET, 'Content-Type': 'application/json' };

function client(secret) {
  const rzp = new Razorpay({ key_id: KEY_ID, key_secret: secret });
  rzp.api.rq.defaults.baseURL = BASE;
  return rzp;
}

async function until(read, done, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function classic(method, path, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: CLASSIC,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(data)}`);
  return data;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

function receiver() {
  // The merchant's webhook endpoint: raw bodies and headers, as a real handler sees them.
  const received = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      response.end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, received, port: server.address().port }));
  });
}

async function main() {
  const hook = await receiver();
  const config = await classic('PUT', '/api/v1/webhooks/config', {
    url: `http://127.0.0.1:${hook.port}/razorpay`,
    format: 'razorpay',
  });
  assert.equal(config.format, 'razorpay');
  const rzp = client(KEY_SECRET);

  // Orders: create (the SDK puts currency INR first by default), fetch, list.
  const order = await rzp.orders.create({
    amount: 50000, receipt: 'rcpt_node', notes: { k: 'v' }, payment_capture: false,
  });
  assert.equal(order.entity, 'order');
  assert.equal(order.status, 'created');
  assert.equal(order.currency, 'INR');
  assert.deepEqual(await rzp.orders.fetch(order.id), order);
  const later = await rzp.orders.create({ amount: 10000, currency: 'INR' });
  const page = await rzp.orders.all({ count: 1, skip: 1 });
  assert.equal(page.entity, 'collection');
  assert.deepEqual(page.items.map((o) => o.id), [order.id]);
  assert.equal((await rzp.orders.all()).items[0].id, later.id);

  // A payment through the gateway's API; authorized once processed (manual capture).
  const paymentId = (await classic('POST', '/api/v1/payments', {
    order_id: order.id, method: 'card',
    card: { number: '4111111111111111', expiry_month: '12', expiry_year: '2099', cvv: '123' },
  })).id;
  const authorized = await until(() => rzp.payments.fetch(paymentId), (p) => p.status === 'authorized');
  assert.equal(authorized.status, 'authorized');
  assert.equal(authorized.card.network, 'Visa');
  assert.equal(authorized.card.last4, '1111');
  // What the hosted checkout hands the merchant's handler, checked as the merchant does.
  const view = await (await fetch(
    `${BASE}/api/v1/payments/${paymentId}/public?key=${encodeURIComponent(KEY_ID)}`,
  )).json();
  assert.ok(validatePaymentVerification(
    { order_id: order.id, payment_id: paymentId }, view.razorpay_signature, KEY_SECRET,
  ));
  // The SDK nests expand[] as expand[expand[]]: tolerated.
  assert.equal((await rzp.payments.fetch(paymentId, { 'expand[]': 'card' })).id, paymentId);
  assert.deepEqual((await rzp.orders.fetchPayments(order.id)).items.map((p) => p.id), [paymentId]);
  assert.ok((await rzp.payments.all({ count: 100 })).items.some((p) => p.id === paymentId));

  // Capture: captured, the order paid.
  const captured = await rzp.payments.capture(paymentId, 50000, 'INR');
  assert.equal(captured.status, 'captured');
  assert.equal(captured.captured, true);
  const paid = await rzp.orders.fetch(order.id);
  assert.equal(paid.status, 'paid');
  assert.equal(paid.amount_paid, 50000);

  // Refunds: partial, then the rest; listed and fetched every way the SDK does.
  const partial = await rzp.payments.refund(paymentId, {
    amount: 10000, speed: 'normal', notes: { r: 'x' }, receipt: 'rf1',
  });
  assert.equal(partial.entity, 'refund');
  assert.equal(partial.receipt, 'rf1');
  assert.equal((await rzp.payments.fetch(paymentId)).refund_status, 'partial');
  const rest = await rzp.payments.refund(paymentId, {});
  assert.equal(rest.amount, 40000);
  const refunded = await rzp.payments.fetch(paymentId);
  assert.equal(refunded.status, 'refunded');
  assert.equal(refunded.refund_status, 'full');
  const listed = await rzp.payments.fetchMultipleRefund(paymentId, { count: 10 });
  assert.deepEqual(listed.items.map((r) => r.id), [rest.id, partial.id]);
  assert.equal((await rzp.payments.fetchRefund(paymentId, partial.id)).amount, 10000);
  assert.equal((await rzp.refunds.fetch(partial.id)).payment_id, paymentId);
  assert.equal((await rzp.refunds.fetch(partial.id, { payment_id: paymentId })).id, partial.id);
  assert.equal((await rzp.refunds.all({ payment_id: paymentId })).count, 2);
  assert.ok((await rzp.refunds.all({ count: 5 })).items.some((r) => r.id === rest.id));

  // Notes-only edits.
  assert.deepEqual((await rzp.orders.edit(order.id, { notes: { n: '1' } })).notes, { n: '1' });
  assert.deepEqual((await rzp.payments.edit(paymentId, { notes: { n: '2' } })).notes, { n: '2' });
  assert.deepEqual((await rzp.refunds.edit(rest.id, { notes: { n: '3' } })).notes, { n: '3' });

  // Auto-capture, Razorpay's default.
  const auto = await rzp.orders.create({ amount: 20000, currency: 'INR', payment_capture: 1 });
  const autoPaymentId = (await classic('POST', '/api/v1/payments', {
    order_id: auto.id, method: 'upi', vpa: 'asha@okbank',
  })).id;
  const autoPayment = await until(() => rzp.payments.fetch(autoPaymentId), (p) => p.status === 'captured');
  assert.equal(autoPayment.status, 'captured');
  assert.equal((await rzp.orders.fetch(auto.id)).status, 'paid');

  // Errors: the SDK rejects with {statusCode, error} = the gateway's error object.
  const unknown = await rejection(rzp.orders.fetch('order_DoesNotExist1234'));
  assert.equal(unknown.statusCode, 400);
  assert.equal(unknown.error.code, 'BAD_REQUEST_ERROR');
  assert.equal(unknown.error.description, 'The id provided does not exist');
  const bad = await rejection(rzp.orders.create({ amount: 'ten', currency: 'INR' }));
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.error.field, 'amount');
  const denied = await rejection(client('wrong').orders.all());
  assert.equal(denied.statusCode, 401);
  assert.equal(denied.error.code, 'BAD_REQUEST_ERROR');

  // Webhooks in Razorpay's envelope, verified with the SDK's own helper.
  const expected = new Set([
    `${paymentId}:payment.authorized`, `${paymentId}:payment.captured`, `${paymentId}:order.paid`,
    `${autoPaymentId}:payment.authorized`, `${autoPaymentId}:payment.captured`,
    `${autoPaymentId}:order.paid`, `${partial.id}:refund.created`, `${rest.id}:refund.created`,
  ]);
  const seen = () => new Set(hook.received.map(({ body }) => {
    const event = JSON.parse(body);
    return `${event.payload[event.contains[0]].entity.id}:${event.event}`;
  }));
  await until(async () => seen(), (found) => [...expected].every((e) => found.has(e)));
  assert.deepEqual([...expected].filter((e) => !seen().has(e)), []);
  for (const { body, headers } of hook.received) {
    assert.ok(Razorpay.validateWebhookSignature(body, headers['x-razorpay-signature'], config.secret));
    assert.equal(headers['x-razorpay-event-id'], headers['webhook-id']);
  }
  hook.server.close();
  console.log(JSON.stringify({ ok: true, webhooks: hook.received.length }));
}

main().catch((error) => {
  console.error(error instanceof Error ? error.stack : JSON.stringify(error));
  process.exit(1);
});
