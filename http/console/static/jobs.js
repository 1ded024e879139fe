// Shared by the Backups, Restore and Read models pages: JSON requests with the CSRF token,
// and polling a job until it ends. Exposed as window.TTJobs (no inline script: CSP).
(function () {
  "use strict";

  function answer(response) {
    if (response.redirected) {  // signed out meanwhile: show the sign-in page
      window.location.reload();
      return Promise.reject(new Error("Signed out."));
    }
    return response.text().then(function (text) {
      var data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!response.ok) {
        var message = data && data.error ? data.error : "The server answered " + response.status + ".";
        return Promise.reject(new Error(message));
      }
      return data;
    });
  }

  function send(url, csrf, body) {
    var headers = { "X-CSRF-Token": csrf, "Accept": "application/json" };
    var payload = body;
    if (!(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body || {});
    }
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: payload })
      .then(answer);
  }

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(answer);
  }

  // Calls show(data) every `seconds` until finished(data) is true; a failed round retries.
  function poll(url, seconds, show, finished) {
    function round() {
      get(url).then(function (data) {
        show(data);
        if (!finished(data)) window.setTimeout(round, seconds * 1000);
      }).catch(function () { window.setTimeout(round, seconds * 1000); });
    }
    round();
  }

  function showError(element, error) {
    element.textContent = error ? String(error.message || error) : "";
    element.hidden = !error;
    // It may sit below the fold of a long page: bring it to where the person looks.
    if (error && element.scrollIntoView) element.scrollIntoView({ block: "nearest" });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    return Math.floor(s / 60) + " min " + (s % 60) + " s";
  }

  // The dry run's findings as a definition list.
  // `name`: the archive as the person knows it (an upload is kept under a name of its own).
  function findings(report, name) {
    var rows = [
      ["Archive", name || report.archive],
      ["Created", report.created_at],
      ["Events in the archive", report.events_in_archive],
      ["Streams in the archive", report.streams_in_archive],
      ["Point in time", report.until || "none: the whole archive"],
      ["Events to restore", report.events_to_restore],
      ["Last position", report.last_position],
      ["Events in the store now", report.events_in_store],
      ["Replaces the store", report.replaces_store ? "yes (a safety backup is taken first)" : "no (the store is empty)"],
      ["Checksum (SHA-256)", report.events_sha256]
    ];
    var box = document.createElement("div");
    var title = document.createElement("p");
    title.className = "banner banner-ok";
    title.textContent = "Dry run passed: the archive is sound.";
    box.appendChild(title);
    box.appendChild(facts(rows));
    return box;
  }

  // [label, value] rows as a definition list (a missing value shows empty).
  function facts(rows) {
    var list = document.createElement("dl");
    list.className = "facts";
    rows.forEach(function (row) {
      var dt = document.createElement("dt");
      dt.textContent = row[0];
      var dd = document.createElement("dd");
      dd.textContent = row[1] === null || row[1] === undefined ? "" : String(row[1]);
      list.appendChild(dt);
      list.appendChild(dd);
    });
    return list;
  }

  // A file's size for people: "1.2 MB", "683 bytes".
  function size(bytes) {
    if (bytes >= 1e6) return (bytes / 1e6).toFixed(1) + " MB";
    if (bytes >= 1e3) return (bytes / 1e3).toFixed(1) + " kB";
    return bytes + " bytes";
  }

  window.TTJobs = { send: send, get: get, poll: poll, showError: showError, duration: duration, findings: findings, facts: facts, size: size };
})();
