/*
 * Kassa checkout card form (served from Kassa, loaded with the CSP nonce; progressive enhancement only).
 *
 * As the shopper types: shows the card brand's mark (the server's own brand table, rendered into the
 * form as data-card-ranges), groups the number as the brand does (4-4-4-4, Amex 4-6-5, Diners 4-6-4),
 * writes the expiry as "MM / YY", and makes the security code's maxlength and hint follow the brand (4
 * digits for Amex). The server receives what it always parsed: it strips the spaces and checks it all.
 * After a decline it puts the cardholder name back (kept in this tab's sessionStorage, never the card
 * number or the code). Without this script the form works the same, unformatted.
 */
(function () {
  "use strict";

  var form = document.getElementById("pay-form");
  if (!form) {
    return;
  }

  var GAPS = { amex: [4, 10], diners: [4, 10] };
  var MAX_DIGITS = { amex: 15, diners: 19 };

  function parseRanges() {
    try {
      var ranges = JSON.parse(form.getAttribute("data-card-ranges") || "[]");
      return Array.isArray(ranges) ? ranges : [];
    } catch (error) {
      return [];
    }
  }

  var ranges = parseRanges();

  /* The same walk as core/vault/cards.py detect_brand: the first range the leading digits fall in. */
  function detectBrand(digits) {
    for (var i = 0; i < ranges.length; i++) {
      var brand = ranges[i][0];
      var length = ranges[i][1];
      if (digits.length >= length) {
        var prefix = parseInt(digits.slice(0, length), 10);
        if (prefix >= ranges[i][2] && prefix <= ranges[i][3]) {
          return brand;
        }
      }
    }
    return "unknown";
  }

  function group(digits, brand) {
    var gaps = GAPS[brand] || [4, 8, 12, 16];
    var out = "";
    for (var i = 0; i < digits.length; i++) {
      if (gaps.indexOf(i) !== -1) {
        out += " ";
      }
      out += digits.charAt(i);
    }
    return out;
  }

  /* Rewrite a field's value, keeping the caret after the same number of digits as before. */
  function rewrite(input, value) {
    if (input.value === value) {
      return;
    }
    var caret = input.selectionStart === null ? input.value.length : input.selectionStart;
    var atEnd = caret >= input.value.length;
    var digitsBefore = input.value.slice(0, caret).replace(/\D/g, "").length;
    input.value = value;
    if (document.activeElement !== input) {
      return;
    }
    if (atEnd) {
      input.setSelectionRange(value.length, value.length); // typing at the end: stay at the end
      return;
    }
    var position = 0;
    var seen = 0;
    while (position < value.length && seen < digitsBefore) {
      if (/\d/.test(value.charAt(position))) {
        seen++;
      }
      position++;
    }
    input.setSelectionRange(position, position);
  }

  var number = form.querySelector('input[name="number"]');
  var cvc = form.querySelector('input[name="cvc"]');
  var expiry = form.querySelector('input[name="expiry"]');
  var marks = document.getElementById("card-brands");
  var cvcHint = cvc ? document.getElementById(cvc.id + "-hint") : null;
  var defaultHint = cvcHint ? cvcHint.textContent : "";

  function showBrand(brand) {
    form.setAttribute("data-brand", brand);
    if (marks) {
      var images = marks.querySelectorAll("img[data-brand]");
      var known = false;
      for (var i = 0; i < images.length; i++) {
        known = known || images[i].getAttribute("data-brand") === brand;
      }
      for (var j = 0; j < images.length; j++) {
        var image = images[j];
        var isIt = image.getAttribute("data-brand") === brand;
        image.hidden = known ? !isIt : image.classList.contains("extra");
      }
      marks.setAttribute("data-detected", known ? brand : "");
    }
    if (cvc) {
      var amex = brand === "amex";
      cvc.setAttribute("maxlength", amex ? "4" : "3");
      if (cvcHint) {
        cvcHint.textContent = amex ? cvc.getAttribute("data-hint-amex") || defaultHint : defaultHint;
      }
    }
  }

  if (number) {
    var formatNumber = function () {
      var digits = number.value.replace(/\D/g, "");
      var brand = detectBrand(digits);
      var max = MAX_DIGITS[brand] || 19;
      // Only rewrite what is digits and spaces: anything else stays for the server to explain.
      if (/^[\d\s-]*$/.test(number.value)) {
        rewrite(number, group(digits.slice(0, max), brand));
      }
      showBrand(brand);
    };
    number.addEventListener("input", formatNumber);
    formatNumber();
  }

  if (cvc) {
    cvc.addEventListener("input", function () {
      if (/^[\d\s]*$/.test(cvc.value)) {
        rewrite(cvc, cvc.value.replace(/\D/g, "").slice(0, Number(cvc.getAttribute("maxlength")) || 4));
      }
    });
  }

  if (expiry) {
    expiry.addEventListener("input", function (event) {
      var value = expiry.value;
      if (!/^[\d\s\/]*$/.test(value)) {
        return; // not ours to fix: the server says what it expects
      }
      var deleting = event.inputType && event.inputType.indexOf("delete") === 0;
      var digits = value.replace(/\D/g, "").slice(0, 4);
      if (digits.length === 1 && /[2-9]/.test(digits) && !deleting) {
        digits = "0" + digits; // "4" can only be April
      }
      var text = digits;
      if (digits.length > 2 || (digits.length === 2 && !deleting)) {
        text = digits.slice(0, 2) + " / " + digits.slice(2);
      }
      rewrite(expiry, text);
    });
  }

  /* The cardholder name survives a decline (the server keeps the email, not the name). */
  var storageKey = "kassa:checkout:" + (form.getAttribute("data-session") || "");
  var store = null;
  try {
    store = window.sessionStorage;
  } catch (error) {
    store = null; // storage blocked (a third-party iframe, a privacy mode): nothing kept
  }
  var name = form.querySelector('input[name="name"]');
  if (store && name) {
    try {
      var kept = store.getItem(storageKey);
      if (kept && !name.value && form.hasAttribute("data-failed")) {
        name.value = kept;
      }
    } catch (error) {
      // ignore: storage full or blocked
    }
    form.addEventListener("submit", function () {
      try {
        store.setItem(storageKey, name.value);
      } catch (error) {
        // ignore: storage full or blocked
      }
    });
  }
})();
