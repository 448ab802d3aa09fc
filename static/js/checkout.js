// Opens the iamport payment window and hands its result to the server, which verifies it.
(function () {
  "use strict";
  var params = JSON.parse(document.getElementById("checkout-params").textContent);
  var form = document.getElementById("checkout-form");
  var button = document.getElementById("pay-button");
  var statusBox = document.getElementById("checkout-status");
  var csrfToken = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function say(text, kind) {
    statusBox.hidden = false;
    statusBox.className = "checkout-status checkout-" + (kind || "info");
    statusBox.textContent = text;
  }

  function verify(rsp) {
    say("Verifying your payment with the provider…", "busy");
    fetch(params.complete_url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify({ imp_uid: rsp.imp_uid, merchant_uid: rsp.merchant_uid })
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok || response.status === 202, data: data }; });
    }).then(function (result) {
      if (result.data.status === "pending" && rsp.error_msg) {
        // The shopper closed the window: nothing was charged and the order is still open.
        say("The payment was not completed: " + rsp.error_msg + " You can try again.", "error");
        button.disabled = false;
      } else if (result.data.redirect) {
        window.location.assign(result.data.redirect);
      } else {
        say((result.data.error && result.data.error.message) || "We could not confirm the payment.", "error");
        button.disabled = false;
      }
    }).catch(function () {
      say("We could not reach the shop to confirm your payment. Please check your account page in a minute; you will not be charged twice.", "error");
    });
  }

  function onResult(rsp) {
    // The browser's flags are not evidence: every payment with an imp_uid is verified by the server.
    if (rsp.imp_uid) {
      verify(rsp);
      return;
    }
    say(rsp.error_msg ? "The payment was not completed: " + rsp.error_msg : "The payment was not completed.", "error");
    button.disabled = false;
  }

  if (!window.IMP) {
    say("The payment window could not be loaded. Please reload the page.", "error");
    return;
  }
  window.IMP.init(params.imp_code);
  button.disabled = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) { return; }
    button.disabled = true;
    say("The payment window is open. Complete the payment there.", "busy");
    var pay = Object.assign({}, params.pay, {
      buyer_tel: form.elements.buyer_tel.value.trim(),
      buyer_addr: form.elements.buyer_addr.value.trim(),
      buyer_postcode: form.elements.buyer_postcode.value.trim()
    });
    window.IMP.request_pay(pay, onResult);
  });
})();
