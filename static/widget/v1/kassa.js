/*
 * Kassa widget v1: embeds the Kassa checkout in an iframe on your page. No dependencies, no build step.
 *
 *   <script src="https://<kassa>/static/widget/v1/kassa.js" integrity="sha384-…" crossorigin="anonymous"></script>
 *   var checkout = Kassa("pk_test_…").mount("#checkout", { session: "cs_…" });
 *   checkout.on("success", function (event) { … event.session, event.payment … });
 *
 * Events: "ready" (once, when the checkout has loaded), "resize" ({height}; the iframe already follows
 * it), "success" ({session, payment}), "failure" ({code, message}; the shopper can try again) and
 * "cancel" ({session}; the shopper chose to go back to the shop: the session stays open).
 * Messages are accepted only from Kassa's origin (this script's own) and from the widget's own iframe.
 * Documentation: docs/widget.md.
 */
(function (window, document) {
  "use strict";

  var KEY = /^pk_(test|live)_[0-9A-Za-z]{8,128}$/;
  var SESSION = /^cs_[0-9a-z]{36}$/;
  var EVENTS = ["ready", "resize", "success", "failure", "cancel"];
  var current = document.currentScript;
  var scriptOrigin = current && current.src ? new URL(current.src, window.location.href).origin : null;

  function fail(message) {
    var error = new Error("Kassa: " + message);
    if (window.console && window.console.error) {
      window.console.error(error.message);
    }
    throw error;
  }

  function Handle(kassa, container, session) {
    var handle = this;
    var listeners = {};
    var readySeen = false;
    EVENTS.forEach(function (name) {
      listeners[name] = [];
    });

    var src =
      kassa.origin +
      "/embed/" +
      encodeURIComponent(session) +
      "?origin=" +
      encodeURIComponent(window.location.origin) +
      "&key=" +
      encodeURIComponent(kassa.key);
    var iframe = document.createElement("iframe");
    iframe.src = src;
    iframe.title = "Secure payment by Kassa";
    iframe.setAttribute("allow", "payment");
    iframe.setAttribute("scrolling", "no");
    iframe.style.border = "0";
    iframe.style.width = "100%";
    iframe.style.height = "420px";
    iframe.style.display = "block";
    iframe.style.overflow = "hidden";

    function emit(name, data) {
      listeners[name].slice().forEach(function (fn) {
        try {
          fn(data);
        } catch (error) {
          if (window.console && window.console.error) {
            window.console.error(error);
          }
        }
      });
    }

    function onMessage(event) {
      // Only Kassa's page, in this widget's own iframe: never another frame or origin.
      if (event.origin !== kassa.origin || event.source !== iframe.contentWindow) {
        return;
      }
      var data = event.data;
      if (!data || data.source !== "kassa" || EVENTS.indexOf(data.type) === -1) {
        return;
      }
      var payload = {};
      Object.keys(data).forEach(function (key) {
        if (key !== "source" && key !== "version" && key !== "type") {
          payload[key] = data[key];
        }
      });
      if (data.type === "ready") {
        if (readySeen) {
          return; // each step of the flow is a page load; the merchant hears "ready" once
        }
        readySeen = true;
      }
      if (data.type === "resize") {
        var height = Number(payload.height);
        if (!isFinite(height) || height <= 0) {
          return;
        }
        iframe.style.height = Math.ceil(height) + "px";
      }
      emit(data.type, payload);
    }

    window.addEventListener("message", onMessage);
    container.appendChild(iframe);

    this.iframe = iframe;
    this.on = function (name, fn) {
      if (EVENTS.indexOf(name) === -1) {
        fail('unknown event "' + name + '"; use one of ' + EVENTS.join(", ") + ".");
      }
      if (typeof fn !== "function") {
        fail('on("' + name + '", fn) needs a function.');
      }
      listeners[name].push(fn);
      return handle;
    };
    this.off = function (name, fn) {
      if (listeners[name]) {
        listeners[name] = listeners[name].filter(function (each) {
          return each !== fn;
        });
      }
      return handle;
    };
    this.destroy = function () {
      window.removeEventListener("message", onMessage);
      if (iframe.parentNode) {
        iframe.parentNode.removeChild(iframe);
      }
      EVENTS.forEach(function (name) {
        listeners[name] = [];
      });
    };
  }

  function Kassa(publishableKey, options) {
    if (!(this instanceof Kassa)) {
      return new Kassa(publishableKey, options);
    }
    if (typeof publishableKey !== "string" || !KEY.test(publishableKey)) {
      fail(
        "Kassa(key) needs your publishable key (pk_test_… or pk_live_…), not " +
          (typeof publishableKey === "string" && publishableKey.indexOf("sk_") === 0
            ? "a secret key: never put a secret key (sk_…) in a web page; rotate it now."
            : JSON.stringify(publishableKey) + ".")
      );
    }
    var origin = (options && options.origin) || scriptOrigin;
    if (!origin) {
      fail("load kassa.js with <script src=\"https://<kassa>/static/widget/v1/kassa.js\">.");
    }
    this.key = publishableKey;
    this.origin = origin.replace(/\/+$/, "");
  }

  Kassa.prototype.mount = function (target, options) {
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container || container.nodeType !== 1) {
      fail("mount(target): no element matches " + JSON.stringify(String(target)) + ".");
    }
    var session = options && options.session;
    if (typeof session !== "string" || !SESSION.test(session)) {
      fail('mount(target, {session: "cs_…"}) needs the id of a checkout session made on your server.');
    }
    return new Handle(this, container, session);
  };

  window.Kassa = Kassa;
})(window, document);
