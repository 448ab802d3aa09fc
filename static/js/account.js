// A second click on the confirmed charge would only be refused by the server; say so at once instead.
(function () {
  "use strict";
  document.querySelectorAll(".charge-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = form.querySelector("button");
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      button.textContent = "Charging…";
      button.setAttribute("aria-busy", "true");
    });
  });
})();
