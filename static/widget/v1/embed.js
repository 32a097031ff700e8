/*
 * Kassa embed page script (served from Kassa, loaded only on /embed/ pages with the CSP nonce).
 *
 * Talks to the merchant page that frames this page, and to nobody else: messages go to the origin the
 * server validated against the tenant's allowlist (data-origin; empty: no messages at all), and
 * messages are accepted only from that origin and from the parent window.
 *
 * Sends {source: "kassa", version: 1, type, ...}: "ready" once the page has loaded, "resize" with
 * {height} whenever the content's height changes, and the page's event (data-event), e.g.
 * "success" {session, payment} on the receipt or "failure" {code, message} after a declined payment.
 */
(function () {
  "use strict";

  var script = document.getElementById("kassa-embed");
  var origin = script ? script.getAttribute("data-origin") : "";
  if (!script || !origin || window.parent === window) {
    return;
  }

  function post(type, data) {
    var message = { source: "kassa", version: 1, type: type };
    Object.keys(data || {}).forEach(function (key) {
      message[key] = data[key];
    });
    window.parent.postMessage(message, origin);
  }

  var lastHeight = -1;
  function measure(force) {
    var body = document.body;
    var style = window.getComputedStyle(body);
    var height = Math.ceil(
      body.getBoundingClientRect().height + parseFloat(style.marginTop) + parseFloat(style.marginBottom)
    );
    if (force || height !== lastHeight) {
      lastHeight = height;
      post("resize", { height: height });
    }
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== window.parent) {
      return;
    }
    var data = event.data;
    if (data && data.source === "kassa-widget" && data.type === "measure") {
      measure(true);
    }
  });

  function start() {
    post("ready", {});
    measure(true);
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(function () {
        measure(false);
      }).observe(document.body);
    } else {
      window.addEventListener("resize", function () {
        measure(false);
      });
    }
    var pageEvent = {};
    try {
      pageEvent = JSON.parse(script.getAttribute("data-event") || "{}");
    } catch (error) {
      pageEvent = {};
    }
    if (pageEvent && typeof pageEvent.type === "string") {
      var type = pageEvent.type;
      delete pageEvent.type;
      post(type, pageEvent);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
