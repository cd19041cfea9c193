/* Dashboard behaviour, plain JS (no build step, no inline scripts: CSP forbids them).
   Everything works without it; this adds local times, confirmations, reveal/copy, expandable
   delivery rows and a live delivery log while deliveries are pending. */
(function () {
  "use strict";

  // <time datetime="...Z"> → the browser's local zone; the UTC value stays in the title.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      el.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
    });
  }

  // Forms with data-confirm ask first; every form disables its submit button once sent, so a
  // double click cannot submit a refund twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); return; }
    if (form.method.toLowerCase() === "post") {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; }, 0);
      });
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-reveal],[data-copy],[data-expand],[data-fill-full],tr[data-href]");
    if (!target) return;
    if (target.hasAttribute("data-reveal")) {
      var secret = document.getElementById(target.getAttribute("data-reveal"));
      var shown = secret.classList.toggle("masked") === false;
      target.textContent = shown ? "Hide" : "Reveal";
      target.setAttribute("aria-pressed", String(shown));
    } else if (target.hasAttribute("data-copy")) {
      var text = document.getElementById(target.getAttribute("data-copy")).textContent;
      navigator.clipboard.writeText(text).then(function () {
        var label = target.textContent;
        target.textContent = "Copied";
        setTimeout(function () { target.textContent = label; }, 1200);
      });
    } else if (target.hasAttribute("data-expand")) {
      toggleDetail(target);
    } else if (target.hasAttribute("data-fill-full")) {
      var input = target.form.querySelector("[data-full]");
      input.value = input.getAttribute("data-full");
      input.focus();
    } else if (target.matches("tr[data-href]") && !event.target.closest("a,button,form")) {
      window.location = target.getAttribute("data-href");
    }
  });

  function toggleDetail(button) {
    var id = button.getAttribute("data-expand");
    var row = document.getElementById("detail-" + id);
    var open = row.hidden;
    row.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (!open || row.getAttribute("data-loaded")) return;
    fetch("/dashboard/webhooks/" + encodeURIComponent(id) + "/detail", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        row.querySelector("[data-field=payload]").textContent = pretty(data.payload);
        row.querySelector("[data-field=response_body]").textContent =
          data.response_body == null ? "(no response body recorded)" : data.response_body;
        row.setAttribute("data-loaded", "1");
      })
      .catch(function () {
        row.querySelector("[data-field=payload]").textContent = "Could not load the delivery.";
      });
  }

  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      // An empty choice means "all": leave it out of the URL; a new filter starts at page 1.
      var form = select.form;
      var params = new URLSearchParams();
      form.querySelectorAll("select").forEach(function (s) { if (s.value) params.set(s.name, s.value); });
      var query = params.toString();
      window.location = form.getAttribute("action") + (query ? "?" + query : "");
    });
  });

  // While deliveries are pending, refresh the log in place every 3 s (not while a row is open,
  // and not in a background tab).
  function liveLog() {
    var section = document.getElementById("webhook-logs");
    if (!section || section.getAttribute("data-live") !== "pending") return;
    setTimeout(function () {
      if (document.hidden || section.querySelector(".detail-row:not([hidden])")) { liveLog(); return; }
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("webhook-logs");
          // A row opened while the request was in flight wins over the refresh.
          var opened = section.querySelector(".detail-row:not([hidden])");
          if (fresh && !opened) { section.replaceWith(fresh); localTimes(fresh); }
          liveLog();
        })
        .catch(liveLog);
    }, 3000);
  }

  localTimes(document);
  liveLog();
})();
