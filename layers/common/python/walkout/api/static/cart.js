// The shopper's live cart: polls GET /stores/{store}/sessions/{session}/cart every second
// and redraws when the cart's version changes (a change shows within about a second).
"use strict";

(function () {
  const { token, call, bindTokenForm, el } = window.Walkout;
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 10000;
  const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

  const query = new URLSearchParams(window.location.search);
  const store = query.get("store") || "";
  const session = query.get("session") || "";

  const statusLine = document.getElementById("cart-status");
  const section = document.getElementById("cart");
  const form = document.getElementById("token-form");
  let shownVersion = null;
  let shownStatus = null;
  let timer = null;
  let failures = 0;

  function say(text) {
    if (statusLine.textContent !== text) {
      statusLine.textContent = text;
    }
  }

  function formatter(currency) {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return (minor) => format.format(minor / Math.pow(10, digits));
  }

  function render(cart) {
    const money = formatter(cart.currency);
    document.getElementById("cart-store").textContent = cart.status === "open"
      ? "You are shopping: items you take appear here."
      : "You have left the store: your receipt follows.";

    const body = document.querySelector("#cart-lines tbody");
    const rows = cart.lines.map((line) =>
      el(
        "tr",
        { "data-sku": line.sku },
        el("th", { scope: "row" },
          el("span", { className: "item-name", text: line.name }),
          el("span", { className: "muted unit", text: money(line.unit_price_minor) + " each" })),
        el("td", { className: "num qty", text: String(line.qty) }),
        el("td", { className: "num", text: money(line.gross_minor) }),
      ),
    );
    body.replaceChildren(...rows);
    document.getElementById("cart-lines").hidden = rows.length === 0;
    document.getElementById("cart-empty").hidden = rows.length !== 0;

    const savings = document.getElementById("cart-savings");
    savings.querySelector("ul").replaceChildren(
      ...cart.savings.map((saving) =>
        el("li", {}, el("span", { text: saving.name }),
          el("span", { className: "num", text: "−" + money(saving.amount_minor) })),
      ),
    );
    savings.hidden = cart.savings.length === 0;

    const totals = cart.totals;
    document.getElementById("total-subtotal").textContent = money(totals.subtotal_minor);
    document.getElementById("total-savings").textContent = "−" + money(totals.savings_minor);
    document.getElementById("total-savings-row").hidden = totals.savings_minor === 0;
    document.getElementById("total-tax-label").textContent =
      totals.tax_included ? "Tax included" : "Tax";
    document.getElementById("total-tax").textContent = money(totals.tax_minor);
    document.getElementById("total-total").textContent = money(totals.total_minor);
    document.getElementById("cart-updated").textContent =
      "Updated " + new Date(cart.updated_at).toLocaleTimeString();
    section.hidden = false;
    section.dataset.version = String(cart.version);

    const count = cart.lines.reduce((n, line) => n + line.qty, 0);
    say(
      (count === 1 ? "1 item" : count + " items") + ", total " + money(totals.total_minor) +
        (totals.savings_minor ? ", you save " + money(totals.savings_minor) : ""),
    );
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  async function poll() {
    const path = "/stores/" + encodeURIComponent(store) + "/sessions/" +
      encodeURIComponent(session) + "/cart";
    try {
      const { body } = await call("GET", path);
      failures = 0;
      if (body.version !== shownVersion || body.status !== shownStatus) {
        shownVersion = body.version;
        shownStatus = body.status;
        render(body);
      }
      schedule(POLL_MS);
    } catch (error) {
      if (error.status === 401) {
        token.forget();
        form.hidden = false;
        say("Your token is not valid any more. Paste a new one.");
        return;
      }
      if (error.status === 403) {
        say("This cart cannot be shown: " + error.message);
        return;
      }
      if (error.status === 404) {
        // Not open yet (or not this shopper's): keep looking, slowly.
        say("No cart yet: " + error.message);
        schedule(3 * POLL_MS);
        return;
      }
      failures += 1;
      say("Reconnecting… (" + error.message + ")");
      schedule(Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures)));
    }
  }

  function start() {
    if (!ID.test(store) || !ID.test(session)) {
      say("This page needs ?store=…&session=… in its address.");
      return;
    }
    if (!token.load()) {
      form.hidden = false;
      say("Paste your shopping token to see your cart.");
      return;
    }
    form.hidden = true;
    say("Loading your cart…");
    poll();
  }

  bindTokenForm(form, start);
  document.addEventListener("visibilitychange", () => {
    // A phone in a pocket does not need to poll; catch up at once when it is back.
    if (document.hidden) {
      window.clearTimeout(timer);
    } else if (token.get() && ID.test(store) && ID.test(session)) {
      schedule(0);
    }
  });
  start();
})();
