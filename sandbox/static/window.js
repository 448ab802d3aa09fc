/* Small comforts for the sandbox payment window; the form works without them. */
(function () {
  'use strict';

  // Escape closes the window as its close button does (the shop hears "cancelled"), also when
  // it is pressed on the page around it, which asks this frame by message. This script runs in
  // the head, so both are heard before the form shows.
  var closing = false;
  function close() {
    if (closing) { return; }
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', close);
      return;
    }
    var closeButton = document.querySelector('.pw-close');
    // One close is sent however often Escape is pressed.
    if (closeButton) { closing = true; closeButton.click(); }
  }
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { close(); }
  });
  window.addEventListener('message', function (event) {
    if (event.source === window.parent && event.data && event.data.type === 'imp-sandbox:close') {
      close();
    }
  });

  document.addEventListener('DOMContentLoaded', comforts);

  // The rest needs the form.
  function comforts() {
    var number = document.getElementById('card_number');
    var firstField = document.querySelector('.pw-form [aria-invalid="true"]') || number;
    // The window opens ready to type in: on the field to correct, else the card number (again
    // when the page around it hands the focus to this frame).
    function focusFirstField() {
      if (firstField && document.activeElement === document.body) { firstField.focus(); }
    }
    focusFirstField();
    window.addEventListener('focus', focusFirstField);

    if (number) {
      // Group the digits by four as the buyer types, as card forms do.
      number.addEventListener('input', function () {
        var digits = number.value.replace(/\D/g, '').slice(0, 19);
        number.value = digits.replace(/(\d{4})(?=\d)/g, '$1 ');
      });
    }

    var expiry = document.getElementById('expiry');
    if (expiry) {
      expiry.addEventListener('input', function (event) {
        if (event.inputType && event.inputType.indexOf('delete') === 0) { return; }
        var digits = expiry.value.replace(/\D/g, '').slice(0, 4);
        expiry.value = digits.length > 2 ? digits.slice(0, 2) + '/' + digits.slice(2) : digits;
      });
    }

    var form = document.querySelector('form.pw-form');
    if (form) {
      form.addEventListener('submit', function () {
        var button = form.querySelector('.pw-pay');
        if (button) {
          // A second click must not send a second charge.
          window.setTimeout(function () {
            button.disabled = true;
            // The page gives the word in the window's language.
            button.textContent = button.getAttribute('data-processing') || button.textContent;
          }, 0);
        }
      });
    }
  }
})();
