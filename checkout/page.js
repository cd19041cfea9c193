/* The hosted checkout page. Plain JavaScript, no build step, no dependencies.
 *
 * Card number and CVV live only in the form fields and the body of one POST to the API:
 * nothing here logs, stores or posts them anywhere else. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var FINAL = { success: true, failed: true };

  var params = new URLSearchParams(window.location.search);
  var orderId = (params.get("order_id") || "").trim();
  var embedded = params.get("embedded") === "true";
  // The merchant's publishable key (the SDK's `key`): the API then answers only for that
  // merchant's orders. A claim the API checks, so the query string may carry it.
  var key = (params.get("key") || "").trim();
  // Where results may be posted is the server's decision (the merchant's allowed origins), read
  // from a meta tag; never the query string's.
  var parentOrigin = embedded ? originOf(meta("gateway-parent-origin")) : null;
  var embeddingRefused = embedded && meta("gateway-embedding") === "refused";
  // Display hints from checkout.js's Razorpay options (prefill, theme.color), in the fragment so
  // that no server ever sees them. Only inside the SDK's modal: a link to the page itself is not
  // pre-filled by whoever wrote the link.
  var hints = embedded && !embeddingRefused ? new URLSearchParams(location.hash.slice(1)) : null;
  var apiUrl = resolveApiUrl();

  var container = document.querySelector('[data-test-id="checkout-container"]');
  var payArea = document.getElementById("pay-area");
  var formSlot = document.getElementById("form-slot");
  var stateSlot = document.getElementById("state-slot");
  var loading = document.getElementById("loading");

  // Each form is built once and only ever moved in and out of the page, so what the customer
  // typed survives switching methods and coming back from an error. Only the visible form is in
  // the document, so there is exactly one pay-button at any time.
  var forms = {
    upi: instantiate("upi-form-template"),
    card: instantiate("card-form-template"),
  };
  var method = "upi";
  var order = null;
  var pollTimer = null;
  var submitting = false;

  function instantiate(id) {
    var template = document.getElementById(id);
    return template.content.firstElementChild.cloneNode(true);
  }

  function field(name) {
    var form = name === "vpa-input" ? forms.upi : forms.card;
    return form.querySelector('[data-test-id="' + name + '"]');
  }

  function originOf(value) {
    if (!value) return null;
    try {
      var url = new URL(value);
      if (url.protocol !== "http:" && url.protocol !== "https:") return null;
      return url.origin;
    } catch (e) {
      return null;
    }
  }

  function meta(name) {
    var tag = document.querySelector('meta[name="' + name + '"]');
    return tag ? tag.content : null;
  }

  function resolveApiUrl() {
    // Set by the server (a meta tag rendered from GATEWAY_PUBLIC_API_URL) or by a page that hosts
    // this script itself. Never from the query string: a crafted link must not be able to send
    // card details to another host.
    var config = window.GATEWAY_CONFIG || {};
    var value = config.apiUrl || meta("gateway-api-url") || "http://localhost:8000";
    return value.replace(/\/+$/, "");
  }

  function rupees(paise) {
    return "₹" + (paise / 100).toFixed(2);
  }

  // ---- talking to the parent page (embedded mode) ----

  function notifyParent(message) {
    if (!embedded || !parentOrigin || window.parent === window) return;
    window.parent.postMessage(message, parentOrigin);
  }

  // ---- the API ----

  function api(path, options) {
    if (key) path += (path.indexOf("?") < 0 ? "?" : "&") + "key=" + encodeURIComponent(key);
    return fetch(apiUrl + path, options).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (body) {
          return { status: response.status, body: body };
        });
    });
  }

  function errorDescription(body, fallback) {
    if (body && body.error && typeof body.error.description === "string") {
      return body.error.description;
    }
    return fallback;
  }

  // ---- views ----

  function clearState() {
    stateSlot.replaceChildren();
  }

  function showForm(focusName) {
    clearState();
    container.removeAttribute("aria-busy");
    payArea.hidden = false;
    selectMethod(method, false);
    if (focusName) {
      var input = forms[method].querySelector('[data-test-id="' + focusName + '"]');
      if (input) input.focus();
    }
  }

  function showState(templateId) {
    payArea.hidden = true;
    var node = instantiate(templateId);
    stateSlot.replaceChildren(node);
    var title = node.querySelector(".state-title");
    if (title) title.focus();
    return node;
  }

  function showProcessing() {
    container.setAttribute("aria-busy", "true");
    showState("processing-template");
  }

  function showSuccess(payment) {
    container.removeAttribute("aria-busy");
    var node = showState("success-template");
    document.getElementById("summary-label").textContent = "Amount paid";
    node.querySelector('[data-test-id="payment-id"]').textContent = payment.id;
    node.querySelector('[data-test-id="success-message"]').textContent =
      "Your payment of " + rupees(payment.amount) + " was successful.";
  }

  function showError(description, focusName, title) {
    container.removeAttribute("aria-busy");
    var node = showState("error-template");
    if (title) node.querySelector(".state-title").textContent = title;
    node.querySelector('[data-test-id="error-message"]').textContent = description;
    node.querySelector('[data-test-id="retry-button"]').addEventListener("click", function () {
      showForm(focusName || firstFieldName());
    });
  }

  function showUnavailable(message) {
    container.removeAttribute("aria-busy");
    loading.hidden = true;
    payArea.hidden = true;
    clearState();
    var box = document.getElementById("order-unavailable");
    document.getElementById("order-unavailable-message").textContent = message;
    box.hidden = false;
    document.getElementById("order-unavailable-title").focus();
  }

  function firstFieldName() {
    return method === "upi" ? "vpa-input" : "card-number-input";
  }

  function selectMethod(name, focusFirst) {
    method = name;
    var buttons = document.querySelectorAll("[data-method]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].setAttribute("aria-pressed", String(buttons[i].dataset.method === name));
    }
    if (formSlot.firstElementChild !== forms[name]) formSlot.replaceChildren(forms[name]);
    if (focusFirst) field(firstFieldName()).focus();
  }

  // ---- card input helpers ----

  function digitsOf(value) {
    return value.replace(/\D/g, "");
  }

  function network(digits) {
    if (/^4/.test(digits)) return "visa";
    if (/^5[1-5]/.test(digits)) return "mastercard";
    if (/^3[47]/.test(digits)) return "amex";
    if (/^(60|65|8[1-9])/.test(digits)) return "rupay";
    return "";
  }

  var NETWORK_NAMES = { visa: "Visa", mastercard: "Mastercard", amex: "Amex", rupay: "RuPay" };

  function groupCard(digits) {
    var sizes = network(digits) === "amex" ? [4, 6, 5] : [4, 4, 4, 4, 3];
    var parts = [];
    var at = 0;
    for (var i = 0; i < sizes.length && at < digits.length; i++) {
      parts.push(digits.slice(at, at + sizes[i]));
      at += sizes[i];
    }
    return parts.join(" ");
  }

  // Reformat an input while keeping the caret after the same number of digits.
  function reformat(input, format) {
    var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
    var atEnd = caret >= input.value.length;
    var digitsBefore = digitsOf(input.value.slice(0, caret)).length;
    var formatted = format(digitsOf(input.value));
    if (formatted === input.value) return;
    input.value = formatted;
    if (atEnd) return; // the browser leaves the caret at the end of a replaced value
    var pos = 0;
    var seen = 0;
    while (pos < formatted.length && seen < digitsBefore) {
      if (/\d/.test(formatted[pos])) seen++;
      pos++;
    }
    if (document.activeElement === input) input.setSelectionRange(pos, pos);
  }

  function onCardNumberInput(event) {
    var input = event.target;
    reformat(input, function (digits) {
      return groupCard(digits.slice(0, 19));
    });
    var detected = network(digitsOf(input.value));
    var badge = forms.card.querySelector('[data-test-id="card-network"]');
    badge.textContent = detected ? NETWORK_NAMES[detected] : "";
    badge.dataset.network = detected || "unknown";
  }

  function onExpiryInput(event) {
    reformat(event.target, function (digits) {
      digits = digits.slice(0, 4);
      // A leading 2-9 can only be a single-digit month: 4 -> 04/
      if (/^[2-9]$/.test(digits)) digits = "0" + digits;
      return digits.length > 2 ? digits.slice(0, 2) + "/" + digits.slice(2) : digits;
    });
  }

  function onCvvInput(event) {
    var input = event.target;
    var digits = digitsOf(input.value).slice(0, 4);
    if (digits !== input.value) input.value = digits;
  }

  // ---- paying ----

  function requestBody() {
    if (method === "upi") {
      return { order_id: order.id, method: "upi", vpa: field("vpa-input").value.trim() };
    }
    var expiry = field("expiry-input").value.split("/");
    return {
      order_id: order.id,
      method: "card",
      card: {
        number: digitsOf(field("card-number-input").value),
        expiry_month: (expiry[0] || "").trim(),
        expiry_year: (expiry[1] || "").trim(),
        cvv: field("cvv-input").value,
        holder_name: field("cardholder-name-input").value.trim(),
      },
    };
  }

  var FIELD_FOR_CODE = {
    INVALID_VPA: "vpa-input",
    INVALID_CARD: "card-number-input",
    EXPIRED_CARD: "expiry-input",
  };

  function missingField() {
    var names =
      method === "upi"
        ? ["vpa-input"]
        : ["card-number-input", "expiry-input", "cvv-input", "cardholder-name-input"];
    for (var i = 0; i < names.length; i++) {
      var input = field(names[i]);
      input.removeAttribute("aria-invalid");
      if (!input.value.trim()) return input;
    }
    return null;
  }

  function submit(event) {
    event.preventDefault();
    if (submitting || !order) return;
    // Only emptiness is checked here; the gateway validates formats and says what is wrong.
    var empty = missingField();
    if (empty) {
      empty.setAttribute("aria-invalid", "true");
      empty.focus();
      return;
    }
    submitting = true;
    var body = requestBody();
    showProcessing();
    api("/api/v1/payments/public", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (result) {
        if (result.status === 201 || result.status === 200) {
          poll(result.body);
          return;
        }
        submitting = false;
        var code = result.body && result.body.error && result.body.error.code;
        var description = errorDescription(
          result.body,
          "The payment could not be started (HTTP " + result.status + "). Please try again."
        );
        var title = FIELD_FOR_CODE[code] ? "Please check your details" : "Payment not started";
        showError(description, FIELD_FOR_CODE[code], title);
      })
      .catch(function () {
        submitting = false;
        showError("We couldn't reach the payment server. Check your connection and try again.");
      });
  }

  function poll(payment) {
    if (FINAL[payment.status]) {
      finish(payment);
      return;
    }
    pollTimer = window.setTimeout(function () {
      api("/api/v1/payments/" + encodeURIComponent(payment.id) + "/public", { method: "GET" })
        .then(function (result) {
          if (result.status === 200 && result.body && result.body.id) {
            poll(result.body);
          } else if (result.status >= 400 && result.status < 500 && result.status !== 429) {
            submitting = false;
            showError(errorDescription(result.body, "We lost track of this payment."));
          } else {
            poll(payment); // 429/5xx: keep waiting, the payment is still being processed
          }
        })
        .catch(function () {
          poll(payment); // a network blip: keep waiting
        });
    }, POLL_MS);
  }

  function finish(payment) {
    submitting = false;
    pollTimer = null;
    var data = {
      paymentId: payment.id,
      orderId: payment.order_id,
      amount: payment.amount,
      currency: payment.currency,
      method: payment.method,
      status: payment.status,
    };
    // The gateway's signature over order and payment (made with the merchant's API secret, which
    // this page never sees), for Razorpay's `handler` and any merchant server that checks it.
    if (typeof payment.razorpay_signature === "string") {
      data.signature = payment.razorpay_signature;
    }
    if (payment.status === "success") {
      showSuccess(payment);
      notifyParent({ type: "payment_success", data: data });
    } else {
      var description = payment.error_description || "The payment was declined.";
      showError(description);
      data.error = { code: payment.error_code || "PAYMENT_FAILED", description: description };
      notifyParent({ type: "payment_failed", data: data });
    }
  }

  // ---- start ----

  function loadOrder() {
    if (embeddingRefused) {
      showUnavailable(
        "This checkout isn't enabled for this website. Please contact the merchant."
      );
      return;
    }
    if (!orderId) {
      showUnavailable("No order was given. Please return to the merchant and try again.");
      return;
    }
    document.querySelector('[data-test-id="order-id"]').textContent = orderId;
    api("/api/v1/orders/" + encodeURIComponent(orderId) + "/public", { method: "GET" })
      .then(function (result) {
        if (result.status === 404) {
          showUnavailable("We couldn't find this order. Please return to the merchant and try again.");
        } else if (result.status !== 200 || !result.body) {
          showUnavailable(errorDescription(result.body, "This order can't be loaded right now."));
        } else if (result.body.status === "paid") {
          order = result.body;
          renderOrder();
          showUnavailable("This order has already been paid. There is nothing more to pay.");
        } else {
          order = result.body;
          renderOrder();
          loading.hidden = true;
          showForm(null);
        }
      })
      .catch(function () {
        showUnavailable("We couldn't reach the payment server. Check your connection and reload.");
      });
  }

  function renderOrder() {
    var amount = rupees(order.amount);
    document.querySelector('[data-test-id="order-amount"]').textContent = amount;
    document.querySelector('[data-test-id="order-id"]').textContent = order.id;
    document.title = "Pay " + amount;
    var buttons = [forms.upi, forms.card];
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].querySelector('[data-test-id="pay-button"]').textContent = "Pay " + amount;
    }
  }

  // ---- display hints (Razorpay's prefill and theme) ----

  function applyTheme(color) {
    if (!/^#(?:[0-9a-fA-F]{3}){1,2}$/.test(color)) return;
    var hex = color.length === 4 ? color.replace(/[0-9a-fA-F]/g, "$&$&") : color;
    var rgb = [1, 3, 5].map(function (at) {
      return parseInt(hex.slice(at, at + 2), 16);
    });
    var darker = rgb.map(function (c) {
      return Math.round(c * 0.8);
    });
    // Text on the merchant's colour must stay readable, whatever colour they chose.
    var luminance = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
    // CSSOM custom properties, not a style attribute: allowed by the page's strict CSP.
    var root = document.documentElement.style;
    root.setProperty("--brand", hex);
    root.setProperty("--brand-dark", "rgb(" + darker.join(", ") + ")");
    root.setProperty("--brand-ink", luminance > 0.6 ? "#15202b" : "#ffffff");
  }

  function applyHints() {
    if (!hints) return;
    if (hints.get("color")) applyTheme(hints.get("color"));
    if (hints.get("method") === "card" || hints.get("method") === "upi") {
      method = hints.get("method");
    }
    // Only fields this page has; the customer can still change them.
    if (hints.get("vpa")) field("vpa-input").value = hints.get("vpa").slice(0, 255);
    if (hints.get("name")) {
      field("cardholder-name-input").value = hints.get("name").slice(0, 255);
    }
  }

  function wire() {
    if (embedded) document.documentElement.classList.add("embedded");
    var methodButtons = document.querySelectorAll("[data-method]");
    for (var i = 0; i < methodButtons.length; i++) {
      methodButtons[i].addEventListener("click", function (event) {
        selectMethod(event.currentTarget.dataset.method, true);
      });
    }
    forms.upi.addEventListener("submit", submit);
    forms.card.addEventListener("submit", submit);
    field("card-number-input").addEventListener("input", onCardNumberInput);
    field("expiry-input").addEventListener("input", onExpiryInput);
    field("cvv-input").addEventListener("input", onCvvInput);
    // In the SDK's modal the keyboard focus is inside this frame, so the parent never sees Escape.
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && embedded) notifyParent({ type: "close_modal" });
    });
  }

  wire();
  applyHints();
  loadOrder();
})();
