// Runs in <head>, before the page paints: apply the theme chosen with the toggle, if any
// (otherwise the stylesheet follows the system's light or dark setting).
(function () {
  "use strict";
  try {
    var chosen = window.localStorage.getItem("tt-console-theme");
    if (chosen === "light" || chosen === "dark") {
      document.documentElement.setAttribute("data-theme", chosen);
    }
  } catch (e) {
    // storage refused (private mode): follow the system
  }
})();
