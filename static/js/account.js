// The account pages' script; its words come from the page (#account-words), in the page's language.
(function () {
  "use strict";
  var wordsBlock = document.getElementById("account-words");
  var words = wordsBlock ? JSON.parse(wordsBlock.textContent) : {};

  // A second click on the confirmed charge would only be refused by the server; say so at once instead.
  document.querySelectorAll(".charge-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = form.querySelector("button");
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      if (words.charging) { button.textContent = words.charging; }
      button.setAttribute("aria-busy", "true");
    });
  });

  // Right after paying, the card is still being confirmed by PAYMENTWALL: ask the shop's status
  // every POLL_MS, up to POLL_LIMIT times (PAYMENTWALL's pingback usually comes well within it),
  // and show the card once it is there. Without this script a reload shows the same.
  var POLL_MS = 2000;
  var POLL_LIMIT = 30;

  function showReady(article, state) {
    var card = article.querySelector(".card-on-file");
    if (card && state.card) { card.textContent = state.card; }
    var next = article.querySelector(".next-charge");
    if (next && state.next_charge) { next.textContent = state.next_charge; }
    var badge = article.querySelector("h3 .badge[data-status]");
    if (badge && state.status_label) {
      badge.textContent = state.status_label;
      badge.setAttribute("data-status", state.status);
      badge.className = "badge badge-" + state.status;
    }
    var button = article.querySelector(".charge-button");
    if (button && state.charge_url && button.tagName === "BUTTON") {
      var link = document.createElement("a");
      link.className = button.className;
      link.href = state.charge_url;
      link.textContent = button.textContent;
      button.replaceWith(link);
    }
    var caption = article.querySelector(".charge-caption");
    if (caption && state.caption) { caption.textContent = state.caption; }
  }

  function poll(article) {
    var url = article.getAttribute("data-status-url");
    var box = article.querySelector(".activation");
    var bar = article.querySelector(".activation-progress");
    var message = article.querySelector(".activation-message");
    var tries = 0;
    if (box) { box.hidden = false; }
    if (message) { message.textContent = words.checking || ""; }

    function stop(text) {
      if (bar) { bar.remove(); }
      if (message) { message.textContent = text || ""; }
    }

    function ask() {
      tries += 1;
      if (bar) { bar.value = Math.round(100 * tries / POLL_LIMIT); }
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (state) {
          if (state && !state.activating) {
            showReady(article, state);
            article.removeAttribute("data-status-url");
            // "You can charge now" only when it can; else why not (the caption).
            return stop(state.charge_url ? words.ready : state.caption);
          }
          if (state === null || tries >= POLL_LIMIT) { return stop(words.gave_up); }
          window.setTimeout(ask, POLL_MS);
        })
        .catch(function () {
          if (tries >= POLL_LIMIT) { return stop(words.gave_up); }
          window.setTimeout(ask, POLL_MS);
        });
    }
    window.setTimeout(ask, POLL_MS / 2);
  }

  document.querySelectorAll("article.subscription[data-status-url]").forEach(poll);
})();
