// The console's behaviour: theme toggle, modal dialogs, copy buttons. No inline script
// anywhere (the Content-Security-Policy allows only files served by the app).
(function () {
  "use strict";

  var THEME_KEY = "tt-console-theme";

  function currentTheme() {
    var set = document.documentElement.getAttribute("data-theme");
    if (set === "light" || set === "dark") return set;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function showTheme(button) {
    var dark = currentTheme() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.textContent = "Dark theme";
    button.title = dark ? "Switch to the light theme" : "Switch to the dark theme";
  }

  function setUpThemeToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    showTheme(button);
    button.addEventListener("click", function () {
      var next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { window.localStorage.setItem(THEME_KEY, next); } catch (e) { /* not kept */ }
      showTheme(button);
    });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
      showTheme(button);
    });
  }

  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden])," +
    " select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

  function focusables(dialog) {
    return Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
  }

  // Native <dialog> opened with showModal(): the page behind is inert and Escape closes it.
  // Tab is also kept inside (wrapping around), and focus returns to the opener on close.
  // The dialog moves to the end of <body> and everything else is aria-hidden meanwhile, so
  // that assistive technology (and tests that look things up by role) see only the dialog.
  function openDialog(dialog, opener) {
    if (dialog.parentNode !== document.body) document.body.appendChild(dialog);
    var hidden = Array.prototype.filter.call(document.body.children, function (el) {
      return el !== dialog && el.tagName !== "SCRIPT" && !el.hasAttribute("aria-hidden");
    });
    hidden.forEach(function (el) { el.setAttribute("aria-hidden", "true"); });
    dialog.showModal();
    var first = dialog.querySelector("[autofocus]") || focusables(dialog).filter(function (el) {
      return el.tagName !== "BUTTON";
    })[0] || focusables(dialog)[0];
    if (first) first.focus();
    dialog.addEventListener("close", function () {
      hidden.forEach(function (el) { el.removeAttribute("aria-hidden"); });
      if (opener && document.body.contains(opener)) opener.focus();
    }, { once: true });
  }

  function setUpDialogs() {
    document.addEventListener("click", function (event) {
      var opener = event.target.closest("[data-open]");
      if (opener) {
        var dialog = document.getElementById(opener.getAttribute("data-open"));
        if (dialog && typeof dialog.showModal === "function") {
          event.preventDefault();
          openDialog(dialog, opener);
        }
        return;
      }
      var closer = event.target.closest("[data-close]");
      if (closer) {
        var owner = closer.closest("dialog");
        if (owner) owner.close();
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Tab") return;
      var dialog = document.querySelector("dialog[open]");
      if (!dialog) return;
      var items = focusables(dialog);
      if (!items.length) return;
      var first = items[0];
      var last = items[items.length - 1];
      if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
        event.preventDefault();
        first.focus();
      }
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var done = document.execCommand("copy");
      document.body.removeChild(area);
      if (done) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var id = button.getAttribute("data-copy");
        var source = document.getElementById(id);
        var status = document.querySelector("[data-copy-status='" + id + "']");
        copyText(source.textContent.trim()).then(function () {
          if (status) status.textContent = "Copied to the clipboard.";
        }, function () {
          if (status) status.textContent = "Copying failed: select the token and copy it by hand.";
        });
      });
    });
  }

  setUpThemeToggle();
  setUpDialogs();
  setUpCopyButtons();
})();
