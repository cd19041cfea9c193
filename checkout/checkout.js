/* checkout.js: the embeddable payment SDK. Vanilla JavaScript, no dependencies.
 *
 *   <script src="https://checkout.example/checkout.js"></script>
 *   <script>
 *     new PaymentGateway({
 *       key: "key_test_abc123",
 *       orderId: "order_...",
 *       onSuccess: function (data) {},   // {paymentId, orderId, amount, currency, method, status,
 *                                        //  signature}
 *       onFailure: function (data) {},   // {paymentId, orderId, ..., error: {code, description}}
 *       onClose: function () {}
 *     }).open();
 *   </script>
 *
 * `key` is the merchant's publishable API key (never the secret): the checkout then shows only
 * that merchant's orders, and runs only on the origins the merchant allowed
 * (PUT /api/v1/checkout/config; with none set, any origin in the demo and none in production).
 * `signature` is the gateway's hex HMAC-SHA256 of "orderId|paymentId" keyed with the merchant's
 * API secret (Razorpay's checkout signature, below), for the merchant's server to check.
 *
 * The same script also defines `window.Razorpay`, so that a page written for Razorpay's Standard
 * Checkout runs unchanged once its script tag points here:
 *
 *     var rzp = new Razorpay({
 *       key: "key_test_abc123", order_id: "order_...",
 *       handler: function (r) {},  // {razorpay_payment_id, razorpay_order_id, razorpay_signature}
 *       prefill: {name, vpa, method}, theme: {color: "#3399cc"},
 *       modal: {ondismiss: function () {}}
 *     });
 *     rzp.on("payment.failed", function (r) {});  // {error: {code, description, source, step,
 *                                                  //   reason, metadata: {order_id, payment_id}}}
 *     rzp.open();
 *
 * It is the same modal, hosted page and origin binding as PaymentGateway (it is built on it), so
 * everything below holds for both. Options our page has no use for (amount, currency, name,
 * description, image, notes, prefill.email/contact, callback_url, ...) are ignored, never an
 * error: the order, created on the server, is what the customer pays.
 *
 * The checkout page is taken from this script's own address (so a deployment is not tied to
 * localhost:3001); pass `checkoutUrl` to point elsewhere. Messages are accepted only from the
 * checkout origin AND from this instance's own iframe; everything else is ignored.
 */
(function (global) {
  "use strict";

  var SCRIPT_URL = (function () {
    var script = document.currentScript;
    if (script && script.src) return script.src;
    // Loaded in some way that leaves no currentScript (e.g. injected then inspected later):
    // fall back to the last script tag that looks like us.
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/checkout\.js(\?|#|$)/.test(scripts[i].src)) return scripts[i].src;
    }
    return null;
  })();

  var current = null; // the one open instance

  function checkoutPage(checkoutUrl) {
    var base = checkoutUrl || SCRIPT_URL;
    if (!base) {
      throw new Error("PaymentGateway: cannot tell where checkout.js came from; pass checkoutUrl");
    }
    var url = new URL(base, global.location.href);
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new Error("PaymentGateway: checkoutUrl must be an http(s) URL");
    }
    if (checkoutUrl) {
      // "https://pay.example" or "https://pay.example/" means the page at /checkout.
      if (url.pathname === "/" || url.pathname === "") url.pathname = "/checkout";
    } else {
      // The page lives next to the script: .../checkout.js -> .../checkout
      url.pathname = url.pathname.replace(/checkout\.js$/, "checkout");
    }
    url.search = "";
    url.hash = "";
    return url;
  }

  function requireString(options, name) {
    var value = options[name];
    if (typeof value !== "string" || value.trim() === "") {
      throw new Error("PaymentGateway: `" + name + "` is required");
    }
    return value.trim();
  }

  function callback(fn) {
    return typeof fn === "function" ? fn : function () {};
  }

  // A merchant's callback that throws must not leave the modal half closed; report it instead.
  function safely(fn, arg) {
    try {
      fn(arg);
    } catch (error) {
      global.setTimeout(function () {
        throw error;
      }, 0);
    }
  }

  function css(element, styles) {
    // CSSOM assignments, not style attributes: they work under a merchant CSP without
    // 'unsafe-inline'.
    for (var name in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, name)) element.style[name] = styles[name];
    }
  }

  function PaymentGateway(options) {
    if (!(this instanceof PaymentGateway)) return new PaymentGateway(options);
    if (!options || typeof options !== "object") {
      throw new Error("PaymentGateway: options with `key` and `orderId` are required");
    }
    this.key = requireString(options, "key");
    this.orderId = requireString(options, "orderId");
    this.onSuccess = callback(options.onSuccess);
    this.onFailure = callback(options.onFailure);
    this.onClose = callback(options.onClose);
    this._page = checkoutPage(options.checkoutUrl);
    this.checkoutOrigin = this._page.origin;
    this._modal = null;
    this._iframe = null;
    this._onMessage = this._handleMessage.bind(this);
    this._onKeydown = this._handleKeydown.bind(this);
    this._hints = ""; // set by Razorpay: the hosted page's prefill and theme, as a fragment
    this._accent = null; // set by Razorpay: theme.color, already checked to be a hex colour
  }

  PaymentGateway.prototype.isOpen = function () {
    return this._modal !== null;
  };

  PaymentGateway.prototype.open = function () {
    if (this._modal) return this;
    if (current && current !== this) current.close();

    var src = new URL(this._page.href);
    src.searchParams.set("order_id", this.orderId);
    src.searchParams.set("embedded", "true");
    // The page shows only this merchant's orders; the checkout server posts results to
    // parent_origin only when the merchant allowed it (else the page refuses to run).
    src.searchParams.set("key", this.key);
    src.searchParams.set("parent_origin", global.location.origin);
    // Display hints (prefill, theme) travel in the fragment: browsers never send it to a server,
    // so a customer's name or UPI ID stays out of access logs and Referer headers.
    if (this._hints) src.hash = this._hints;

    var modal = document.createElement("div");
    modal.setAttribute("data-test-id", "payment-modal");
    modal.setAttribute("role", "dialog");
    modal.setAttribute("aria-modal", "true");
    modal.setAttribute("aria-label", "Payment");
    css(modal, {
      position: "fixed",
      inset: "0",
      zIndex: "2147483647",
      display: "flex",
      alignItems: "center",
      justifyContent: "center",
      padding: "16px",
      boxSizing: "border-box",
      background: "rgba(15, 23, 42, 0.6)",
    });

    var frame = document.createElement("div");
    css(frame, {
      position: "relative",
      width: "100%",
      maxWidth: "460px",
      height: "min(680px, 100%)",
      background: "#fff",
      borderRadius: "12px",
      boxShadow: "0 20px 50px rgba(0, 0, 0, 0.35)",
      overflow: "hidden",
    });
    if (this._accent) css(frame, { borderTop: "4px solid " + this._accent });

    var iframe = document.createElement("iframe");
    iframe.setAttribute("data-test-id", "payment-iframe");
    iframe.setAttribute("title", "Secure payment");
    iframe.setAttribute("allow", "payment");
    iframe.src = src.href;
    css(iframe, { display: "block", width: "100%", height: "100%", border: "0" });

    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("data-test-id", "close-modal-button");
    close.setAttribute("aria-label", "Close payment");
    close.textContent = "×";
    css(close, {
      position: "absolute",
      top: "8px",
      right: "8px",
      width: "40px",
      height: "40px",
      border: "0",
      borderRadius: "50%",
      background: "rgba(15, 23, 42, 0.08)",
      color: "#15202b",
      font: "24px/1 system-ui, sans-serif",
      cursor: "pointer",
      zIndex: "1",
    });
    var self = this;
    close.addEventListener("click", function () {
      self.close();
    });

    frame.appendChild(iframe);
    frame.appendChild(close);
    modal.appendChild(frame);

    this._restoreFocus = document.activeElement;
    this._overflow = {
      body: document.body.style.overflow,
      html: document.documentElement.style.overflow,
    };
    document.body.style.overflow = "hidden";
    document.documentElement.style.overflow = "hidden";

    this._modal = modal;
    this._iframe = iframe;
    current = this;
    global.addEventListener("message", this._onMessage);
    document.addEventListener("keydown", this._onKeydown);
    document.body.appendChild(modal);
    iframe.focus();
    return this;
  };

  PaymentGateway.prototype.close = function () {
    if (!this._modal) return this;
    global.removeEventListener("message", this._onMessage);
    document.removeEventListener("keydown", this._onKeydown);
    if (this._modal.parentNode) this._modal.parentNode.removeChild(this._modal);
    document.body.style.overflow = this._overflow.body;
    document.documentElement.style.overflow = this._overflow.html;
    this._modal = null;
    this._iframe = null;
    if (current === this) current = null;
    var restore = this._restoreFocus;
    this._restoreFocus = null;
    if (restore && typeof restore.focus === "function" && document.contains(restore)) {
      restore.focus();
    }
    safely(this.onClose);
    return this;
  };

  PaymentGateway.prototype._handleKeydown = function (event) {
    if (event.key === "Escape" || event.key === "Esc") this.close();
  };

  PaymentGateway.prototype._handleMessage = function (event) {
    // Both checks: the origin proves who sent it, the source proves it is our frame (another
    // tab or frame of the checkout origin, or this very page, is not).
    if (!this._iframe || event.origin !== this.checkoutOrigin) return;
    if (event.source !== this._iframe.contentWindow) return;
    var message = event.data;
    if (!message || typeof message !== "object" || typeof message.type !== "string") return;
    var data = message.data && typeof message.data === "object" ? message.data : {};

    if (message.type === "payment_success") {
      safely(this.onSuccess, data);
      this.close();
    } else if (message.type === "payment_failed") {
      safely(this.onFailure, data);
    } else if (message.type === "close_modal") {
      this.close();
    }
  };

  // ---- window.Razorpay: Razorpay's Standard Checkout API over the same modal ----

  var HEX_COLOR = /^#(?:[0-9a-fA-F]{3}){1,2}$/;

  // theme.color when it is a hex colour (what Razorpay documents), else null: it ends up in a
  // CSS value, so nothing else is let through.
  function hexColor(theme) {
    var color = theme && typeof theme === "object" ? theme.color : null;
    return typeof color === "string" && HEX_COLOR.test(color) ? color : null;
  }

  function text(value, max) {
    return typeof value === "string" && value.trim() !== "" ? value.trim().slice(0, max) : null;
  }

  // What the hosted page can use of `prefill` and `theme`, as the iframe's fragment. Only fields
  // our page has: the UPI ID, the card holder's name, the method to show first, the colour.
  function hints(options) {
    var prefill = options.prefill && typeof options.prefill === "object" ? options.prefill : {};
    var params = new URLSearchParams();
    var name = text(prefill.name, 255);
    var vpa = text(prefill.vpa, 255);
    var color = hexColor(options.theme);
    if (name) params.set("name", name);
    if (vpa) params.set("vpa", vpa);
    if (prefill.method === "upi" || prefill.method === "card") params.set("method", prefill.method);
    if (color) params.set("color", color);
    return params.toString();
  }

  // Razorpay's checkout hands failures over in its API error shape. Our page reports a declined
  // payment (`PAYMENT_FAILED`); Razorpay's code for it is BAD_REQUEST_ERROR, and our own code is
  // kept, lower-cased, as the `reason` (as the /v1 API does for its errors).
  function failure(data) {
    var error = data.error && typeof data.error === "object" ? data.error : {};
    var code = typeof error.code === "string" && error.code ? error.code : "PAYMENT_FAILED";
    return {
      error: {
        code: "BAD_REQUEST_ERROR",
        description:
          typeof error.description === "string" && error.description
            ? error.description
            : "Payment failed",
        source: "bank",
        step: "payment_authorization",
        reason: code.toLowerCase(),
        metadata: { order_id: data.orderId, payment_id: data.paymentId },
      },
    };
  }

  function Razorpay(options) {
    if (!(this instanceof Razorpay)) return new Razorpay(options);
    var given = options && typeof options === "object" ? options : {};
    // Razorpay's own checkout.js throws "No key passed" here; merchants' error handling and
    // support searches know that message, so it is kept word for word.
    if (!text(given.key, 255)) throw new Error("No key passed");
    // Razorpay would take an amount alone; this gateway only takes payments for orders.
    if (!text(given.order_id, 255)) {
      throw new Error("No order_id passed: create the order on your server (POST /v1/orders)");
    }
    var modal = given.modal && typeof given.modal === "object" ? given.modal : {};
    var self = this;
    this._failed = [];
    this._paid = false;
    this._handler = callback(given.handler);
    this._ondismiss = callback(modal.ondismiss);
    this._gateway = new PaymentGateway({
      key: given.key,
      orderId: given.order_id,
      checkoutUrl: given.checkoutUrl,
      onSuccess: function (data) {
        // Before PaymentGateway closes the modal, so that this close is not a dismissal.
        self._paid = true;
        self._handler({
          razorpay_payment_id: data.paymentId,
          razorpay_order_id: data.orderId,
          // Computed by the gateway with the merchant's API secret; "" only if it could not be
          // (the merchant's verification then refuses it, as it should).
          razorpay_signature: typeof data.signature === "string" ? data.signature : "",
        });
      },
      onFailure: function (data) {
        var response = failure(data);
        var listeners = self._failed.slice();
        for (var i = 0; i < listeners.length; i++) safely(listeners[i], response);
      },
      onClose: function () {
        if (!self._paid) self._ondismiss();
      },
    });
    this._gateway._hints = hints(given);
    this._gateway._accent = hexColor(given.theme);
  }

  Razorpay.prototype.open = function () {
    if (!this._gateway.isOpen()) this._paid = false;
    this._gateway.open();
    return this;
  };

  // Closing without paying is a dismissal, whoever closes: the customer (the close button,
  // Escape) or the merchant's code.
  Razorpay.prototype.close = function () {
    this._gateway.close();
    return this;
  };

  // Only "payment.failed" has anything to report here; other events are accepted and ignored,
  // so integrations that subscribe to more do not break.
  Razorpay.prototype.on = function (event, listener) {
    if (event === "payment.failed" && typeof listener === "function") this._failed.push(listener);
    return this;
  };

  global.PaymentGateway = PaymentGateway;
  global.Razorpay = Razorpay;
})(window);
