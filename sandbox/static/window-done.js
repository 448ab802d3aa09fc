/* The finished window tells the SDK on the merchant's page the result (desktop overlay). */
(function () {
  'use strict';

  var node = document.getElementById('imp-result');
  if (!node) { return; }
  var data = JSON.parse(node.textContent);
  var target = window.parent !== window ? window.parent : window.opener;
  if (!target) { return; }
  // Only the merchant's origin (recorded when the window was opened) may read the result.
  target.postMessage({ type: 'imp-sandbox:result', rsp: data.rsp }, data.target_origin);
})();
