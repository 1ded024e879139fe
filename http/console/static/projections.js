// The Read models page: "Rebuild" with a live progress bar, "Verify" with its findings.
(function () {
  "use strict";
  var root = document.getElementById("projections");
  if (!root || !window.TTJobs) return;
  var J = window.TTJobs;
  var csrf = root.getAttribute("data-csrf");
  var seconds = parseInt(root.getAttribute("data-poll"), 10) || 1;
  var errorBox = document.getElementById("projections-error");
  var result = document.getElementById("verify-result");

  function cell(tag, text) {
    var el = document.createElement(tag);
    el.textContent = String(text);
    return el;
  }

  function watch(row) {
    var name = row.getAttribute("data-name");
    var bar = row.querySelector("[data-field='bar']");
    var label = row.querySelector("[data-field='rebuild']");
    var button = row.querySelector("[data-action='rebuild']");
    bar.hidden = false;
    button.disabled = true;
    J.poll("/admin/projections/" + encodeURIComponent(name) + "/rebuild.json", seconds, function (data) {
      var job = data.job;
      if (!job) return;
      bar.value = job.percent;
      if (job.state === "running") {
        label.textContent = "rebuilding: " + job.percent + " % (" + job.done + " of " + job.total + ")";
      } else if (job.state === "done") {
        label.textContent = "done: rebuilt (" + job.total + " events" + (job.events_per_second ? ", " + Math.round(job.events_per_second) + " events/s" : "") + ")";
        button.disabled = false;
      } else {
        label.textContent = job.state + ": " + (job.error || "");
        button.disabled = false;
      }
    }, function (data) { return !data.job || data.job.state !== "running"; });
  }

  Array.prototype.forEach.call(root.querySelectorAll("tr[data-name]"), function (row) {
    var name = row.getAttribute("data-name");
    var rebuild = row.querySelector("[data-action='rebuild']");
    var verify = row.querySelector("[data-action='verify']");
    if (rebuild.disabled) watch(row);
    rebuild.addEventListener("click", function () {
      J.showError(errorBox, null);
      rebuild.disabled = true;
      J.send("/admin/projections/" + encodeURIComponent(name) + "/rebuild", csrf, {})
        .then(function () { watch(row); })
        .catch(function (e) { rebuild.disabled = false; J.showError(errorBox, e); });
    });
    verify.addEventListener("click", function () {
      J.showError(errorBox, null);
      verify.disabled = true;
      result.hidden = false;
      result.querySelector("[data-field='verdict']").textContent = "Verifying " + name + ": replaying the log into a scratch copy…";
      result.querySelector("[data-field='checksums']").replaceChildren();
      result.querySelector("[data-field='mismatches']").replaceChildren();
      J.send("/admin/projections/" + encodeURIComponent(name) + "/verify", csrf, {})
        .then(function (found) {
          result.querySelector("[data-field='verdict']").textContent = found.name + " at position " + found.position + ": " +
            (found.ok ? "ok, the live copy matches a fresh replay." : "MISMATCH: " + found.mismatches.length + " difference(s) listed below; rebuild it.");
          result.querySelector("[data-field='checksums']").replaceChildren.apply(
            result.querySelector("[data-field='checksums']"),
            found.checksums.map(function (c) {
              var tr = document.createElement("tr");
              var th = cell("th", c.part); th.setAttribute("scope", "row");
              tr.appendChild(th); tr.appendChild(cell("td", c.live)); tr.appendChild(cell("td", c.replayed));
              return tr;
            }));
          var list = result.querySelector("[data-field='mismatches']");
          list.replaceChildren.apply(list, found.mismatches.map(function (m) { return cell("li", m); }));
        })
        .catch(function (e) { result.querySelector("[data-field='verdict']").textContent = ""; J.showError(errorBox, e); })
        .finally(function () { verify.disabled = false; });
    });
  });
})();
