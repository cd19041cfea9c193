/* checkout.js: the embeddable payment SDK. Vanilla JavaScript, no dependencies.
 *
 *   <script src="https://checkout.example/checkout.js"></script>
 *   <script>
 *     new PaymentGateway({
 *       key: "key_test_abc123",
 *       orderId: "order_...",
 *       onSuccess: function (data) {},   // {paymentId, orderId, amount, currency, method, status}
 *       onFailure: function (data) {},   // {paymentId, orderId, ..., error: {code, description}}
 *       onClose: function () {}
 *     }).open();
 *   </script>
 *
 * `key` is the merchant's publishable API key (never the secret): the checkout then shows only
 * that merchant's orders, and runs only on the origins the merchant allowed
 * (PUT /api/v1/checkout/config; with none set, any origin in the demo and none in production).
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

  global.PaymentGateway = PaymentGateway;
})(window);
