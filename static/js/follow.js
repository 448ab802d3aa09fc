// Follows what the shop is still waiting on (a payment held for review): asks the element's
// data-follow-url, which reads the shop's records only, and reloads the page once the answer's
// data-follow-field differs from data-follow-value, so that the server renders the outcome.
// Without this script the page's "Check again" link does the same.
(function () {
  "use strict";
  // A review usually ends within minutes: look every STEP_MS, then ever less often (doubled
  // after every SLOWER_AFTER looks, at most MAX_MS apart) so that a tab left open stays cheap.
  var FIRST_MS = 3000;
  var STEP_MS = 5000;
  var MAX_MS = 60000;
  var SLOWER_AFTER = 12;

  function follow(element) {
    var url = element.getAttribute("data-follow-url");
    var field = element.getAttribute("data-follow-field");
    var shown = element.getAttribute("data-follow-value");
    var looks = 0;

    function later() {
      var wait = STEP_MS * Math.pow(2, Math.floor(looks / SLOWER_AFTER));
      window.setTimeout(look, Math.min(MAX_MS, wait));
    }

    function look() {
      looks += 1;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          // Logged out, or no longer this shopper's: nothing to follow any more.
          if (response.status === 401 || response.status === 404) { return null; }
          return response.ok ? response.json() : {};
        })
        .then(function (state) {
          if (state === null) { return; }
          if (Object.prototype.hasOwnProperty.call(state, field) && String(state[field]) !== shown) {
            window.location.reload();
            return;
          }
          later();
        })
        .catch(later);
    }

    window.setTimeout(look, FIRST_MS);
  }

  document.querySelectorAll("[data-follow-url]").forEach(follow);
})();
