// Opens the iamport payment window and hands its result to the server, which verifies it.
// The order is opened when pay is pressed (POST of the price the page showed, with the consent
// ticked: to the recurring payment on the checkout page, to the new card's payment on the card
// page). Words come from the page.
(function () {
  "use strict";
  var params = JSON.parse(document.getElementById("checkout-params").textContent);
  var texts = JSON.parse(document.getElementById("checkout-texts").textContent);
  var form = document.getElementById("checkout-form");
  var button = document.getElementById("pay-button");
  var statusBox = document.getElementById("checkout-status");
  var consent = document.getElementById("consent");
  var consentError = document.getElementById("consent-error");
  var csrfToken = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function say(text, kind) {
    statusBox.hidden = false;
    statusBox.className = "checkout-status checkout-" + (kind || "info");
    statusBox.textContent = text;
  }

  function because(template, reason) {
    return template.replace("{reason}", reason);
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok || response.status === 202, data: data };
      });
    });
  }

  // The card was declined in the window: the shopper stays here, the consent and the details as
  // they were, and is told why in the shop's words (the order's status, read from the shop; the
  // window's own message is the provider's). The next press opens a new order: a failed one is
  // never paid again.
  function declined(resultUrl) {
    params.pay = null;
    document.getElementById("order-row").hidden = true;
    fetch(resultUrl + "/status", { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .catch(function () { return {}; })
      .then(function (state) {
        say(because(texts.declined_because, state.reason || texts.declined), "error");
        button.disabled = false;
      });
  }

  function verify(rsp) {
    say(texts.verifying, "busy");
    postJSON(params.complete_url, { imp_uid: rsp.imp_uid, merchant_uid: rsp.merchant_uid }).then(function (result) {
      if (result.data.status === "pending" && rsp.error_msg) {
        // The shopper closed the window: nothing was charged and the order is still open.
        say(because(texts.try_again_because, rsp.error_msg), "error");
        button.disabled = false;
      } else if (result.data.status === "failed" && params.order_url && result.data.redirect) {
        declined(result.data.redirect);
      } else if (result.data.redirect) {
        window.location.assign(result.data.redirect);
      } else {
        say((result.data.error && result.data.error.message) || texts.not_confirmed, "error");
        button.disabled = false;
      }
    }).catch(function () {
      say(texts.shop_unreachable, "error");
    });
  }

  function onResult(rsp) {
    // The browser's flags are not evidence: every payment with an imp_uid is verified by the server.
    if (rsp.imp_uid) {
      verify(rsp);
      return;
    }
    say(rsp.error_msg ? because(texts.not_completed_because, rsp.error_msg) : texts.not_completed, "error");
    button.disabled = false;
  }

  function consentGiven() {
    if (!consent) { return true; }
    var given = consent.checked;
    consentError.hidden = given;
    // The card page words its own consent (data-needed).
    consentError.textContent = given ? "" : (consent.getAttribute("data-needed") || texts.consent_needed);
    consent.setAttribute("aria-invalid", given ? "false" : "true");
    consent.closest("fieldset").classList.toggle("consent-missing", !given);
    return given;
  }

  // The order to pay: the one the server opens now that pay is pressed (the same one again on a
  // second try while it is open; a new one after a decline).
  function order() {
    if (params.pay) { return Promise.resolve(params.pay); }
    say(texts.opening, "busy");
    var body = { amount: params.amount, currency: params.currency };
    if (consent) { body.consent = consent.value; }
    return postJSON(params.order_url, body).then(function (result) {
      if (!result.ok || !result.data.pay) {
        if (result.data.redirect) { window.location.assign(result.data.redirect); }
        throw new Error((result.data.error && result.data.error.message) || texts.not_opened);
      }
      params.pay = result.data.pay;
      document.getElementById("order-number").textContent = params.pay.merchant_uid;
      document.getElementById("order-row").hidden = false;
      return params.pay;
    }, function () {
      throw new Error(texts.not_opened);
    });
  }

  if (!window.IMP) {
    say(texts.no_window, "error");
    return;
  }
  window.IMP.init(params.imp_code);
  button.disabled = false;
  if (consent) {
    consent.addEventListener("change", function () { if (consent.checked) { consentGiven(); } });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) { return; }
    if (!consentGiven()) {
      consent.focus();
      return;
    }
    button.disabled = true;
    order().then(function (pay) {
      say(texts.window_open, "busy");
      window.IMP.request_pay(Object.assign({}, pay, {
        buyer_tel: form.elements.buyer_tel.value.trim(),
        buyer_addr: form.elements.buyer_addr.value.trim(),
        buyer_postcode: form.elements.buyer_postcode.value.trim()
      }), onResult);
    }).catch(function (error) {
      say(error.message, "error");
      button.disabled = false;
    });
  });
})();
