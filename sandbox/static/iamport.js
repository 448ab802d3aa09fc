/*
 * iamport.js of the offline sandbox: window.IMP with init() and request_pay(param, callback).
 *
 * The sandbox, not this script, checks the parameters and decides the payment: request_pay
 * posts them to the sandbox, which answers with a window URL (or an error). On desktop the
 * window opens in an iframe over the page and reports back by postMessage; on mobile the
 * whole page goes to the window, which ends with a redirect to m_redirect_url.
 *
 * Mobile is chosen by user agent, or forced with `sandbox_mobile: true|false` in the
 * request_pay parameters, or `?mode=mobile|pc` on this script's URL.
 */
(function (window, document) {
  'use strict';

  var script = document.currentScript || (function () {
    var all = document.getElementsByTagName('script');
    return all[all.length - 1];
  })();
  var scriptUrl = new URL(script.src, window.location.href);
  var SANDBOX_ORIGIN = scriptUrl.origin;
  var SANDBOX_BASE = SANDBOX_ORIGIN + scriptUrl.pathname.replace(/\/(v1\/iamport|js\/iamport\.payment-[^/]*)\.js$/, '');
  var SCRIPT_MODE = scriptUrl.searchParams.get('mode');
  var OVERLAY_ID = 'imp-sandbox-overlay';

  var state = { code: null, tier: null, pending: null };

  function isMobile(param) {
    if (param && typeof param.sandbox_mobile === 'boolean') { return param.sandbox_mobile; }
    if (SCRIPT_MODE === 'mobile') { return true; }
    if (SCRIPT_MODE === 'pc') { return false; }
    return /Mobi|Android|iPhone|iPad/i.test(window.navigator.userAgent);
  }

  function errorRsp(param, code, message) {
    return {
      success: false,
      imp_success: false,
      error_code: code,
      error_msg: message,
      imp_uid: null,
      merchant_uid: param && typeof param === 'object' ? (param.merchant_uid || null) : null
    };
  }

  function report(callback, rsp) {
    if (typeof callback !== 'function') { return; }
    // Like the real SDK, call back asynchronously so that the caller's code has returned.
    window.setTimeout(function () { callback(rsp); }, 0);
  }

  function removeOverlay() {
    var overlay = document.getElementById(OVERLAY_ID);
    if (overlay && overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
    document.documentElement.style.overflow = state.savedOverflow || '';
  }

  function finish(rsp) {
    var pending = state.pending;
    state.pending = null;
    window.removeEventListener('message', onMessage);
    document.removeEventListener('keydown', onKeydown);
    removeOverlay();
    if (pending) { report(pending.callback, rsp); }
  }

  function onMessage(event) {
    var pending = state.pending;
    // Only the sandbox's own window, in our iframe, for this payment, may answer.
    if (!pending || event.origin !== SANDBOX_ORIGIN) { return; }
    if (!pending.frame || event.source !== pending.frame.contentWindow) { return; }
    var data = event.data;
    if (!data || data.type !== 'imp-sandbox:result' || !data.rsp || data.rsp.imp_uid !== pending.impUid) { return; }
    finish(data.rsp);
  }

  function openOverlay(windowUrl, title) {
    var overlay = document.createElement('div');
    overlay.id = OVERLAY_ID;
    // Styles go through the CSSOM so that a merchant's CSP without 'unsafe-inline' allows them.
    var s = overlay.style;
    s.position = 'fixed';
    s.top = '0'; s.right = '0'; s.bottom = '0'; s.left = '0';
    s.zIndex = '2147483647';
    s.background = 'rgba(15, 23, 42, 0.55)';
    s.display = 'flex';
    s.alignItems = 'center';
    s.justifyContent = 'center';
    s.padding = '16px';
    s.boxSizing = 'border-box';

    var frame = document.createElement('iframe');
    frame.name = 'imp-sandbox-window';
    // The sandbox names the frame in the window's language.
    frame.title = title || 'Payment window';
    frame.src = windowUrl;
    var f = frame.style;
    f.border = '0';
    f.width = '440px';
    f.maxWidth = '100%';
    f.height = '680px';
    f.maxHeight = '100%';
    f.borderRadius = '14px';
    f.background = '#ffffff';
    f.boxShadow = '0 24px 64px rgba(15, 23, 42, 0.35)';

    overlay.appendChild(frame);
    state.savedOverflow = document.documentElement.style.overflow;
    document.documentElement.style.overflow = 'hidden';
    document.body.appendChild(overlay);
    // Keyboard focus goes into the window, which puts it on its first field; an Escape pressed
    // before the window could hear it is passed on now.
    frame.addEventListener('load', function () {
      var pending = state.pending;
      if (pending && pending.frame === frame) {
        pending.loaded = true;
        if (pending.closeOnLoad) { askWindowToClose(pending); return; }
      }
      frame.focus();
    });
    return frame;
  }

  function askWindowToClose(pending) {
    pending.frame.contentWindow.postMessage({ type: 'imp-sandbox:close' }, SANDBOX_ORIGIN);
  }

  // Escape on the page closes the window as its close button does: the window is asked to, or,
  // while it is still loading (its form may already show), as soon as it has loaded.
  function onKeydown(event) {
    var pending = state.pending;
    if (event.key !== 'Escape' || !pending || !pending.frame || !pending.frame.contentWindow) { return; }
    if (pending.loaded) { askWindowToClose(pending); } else { pending.closeOnLoad = true; }
  }

  // Problems found before anything reaches the sandbox always go to the callback.
  function fail(param, callback, code, message) {
    report(callback, errorRsp(param, code, message));
  }

  var IMP = {
    /** Remember the merchant code (imp...); call once before request_pay. */
    init: function (code) {
      state.code = code;
    },

    /** Sub-merchant form of init(). */
    agency: function (code, tierCode) {
      state.code = code;
      state.tier = tierCode || null;
    },

    /** Open the payment window; the result goes to callback (desktop) or m_redirect_url (mobile). */
    request_pay: function (param, callback) {
      var mobile = isMobile(param);
      if (!state.code) {
        fail(param, callback, 'F0001', 'Call IMP.init() with your merchant code before IMP.request_pay().');
        return;
      }
      if (state.pending) {
        fail(param, callback, 'F0005', 'A payment window is already open.');
        return;
      }
      state.pending = { callback: callback, frame: null, impUid: null };
      var body;
      try {
        body = JSON.stringify({
          imp_code: state.code,
          tier_code: state.tier,
          param: param,
          mode: mobile ? 'mobile' : 'pc',
          origin: window.location.origin
        });
      } catch (err) {
        state.pending = null;
        fail(param, callback, 'F0002', 'request_pay parameters cannot be serialised: ' + err.message);
        return;
      }
      window.fetch(SANDBOX_BASE + '/sdk/v1/payments', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: body,
        credentials: 'omit'
      }).then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      }).then(function (answer) {
        if (!answer.ok) {
          state.pending = null;
          if (mobile && answer.redirect_url) {
            window.location.assign(answer.redirect_url);
          } else {
            report(callback, answer.rsp);
          }
          return;
        }
        state.pending.impUid = answer.imp_uid;
        if (mobile) {
          window.location.assign(answer.window_url);
          return;
        }
        window.addEventListener('message', onMessage);
        document.addEventListener('keydown', onKeydown);
        state.pending.frame = openOverlay(answer.window_url, answer.title);
      }).catch(function (err) {
        state.pending = null;
        removeOverlay();
        report(callback, errorRsp(param, 'F0009', 'The payment service could not be reached (' + err.message + ').'));
      });
    }
  };

  window.IMP = IMP;
})(window, document);
