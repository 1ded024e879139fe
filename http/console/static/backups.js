// The Backups page: "Create backup" with progress, and each row's restore dialog
// (point in time, dry run, typing RESTORE) that starts the restore and opens its progress.
(function () {
  "use strict";
  var root = document.getElementById("backups");
  if (!root || !window.TTJobs) return;
  var J = window.TTJobs;
  var csrf = root.getAttribute("data-csrf");
  var errorBox = document.getElementById("backups-error");

  var create = document.getElementById("create-backup");
  var panel = document.getElementById("backup-progress");
  var bar = document.getElementById("backup-bar");
  var status = document.getElementById("backup-status");

  create.addEventListener("click", function () {
    create.disabled = true;
    J.showError(errorBox, null);
    J.send("/admin/backups", csrf, {}).then(function (data) {
      panel.hidden = false;
      status.textContent = "Backup started (job " + data.job.id + ").";
      J.poll("/admin/jobs/" + data.job.id + ".json", 1, function (d) {
        var job = d.job;
        var pct = job.state === "done" ? 100 : (job.total ? Math.floor(100 * job.done / job.total) : 0);
        bar.value = pct;
        status.textContent = job.state === "running" ? "Backing up: " + job.done + " of " + job.total + " events (" + pct + " %)." : "";
        if (job.state === "done") {
          status.textContent = "Backup done: " + job.result.filename + ". Reloading the list.";
          window.location.assign("/admin/backups?created=" + encodeURIComponent(job.result.filename));
        } else if (job.state !== "running") {
          J.showError(errorBox, new Error("The backup failed: " + (job.error || job.state)));
          create.disabled = false;
        }
      }, function (d) { return d.job.state !== "running"; });
    }).catch(function (error) {
      J.showError(errorBox, error);
      create.disabled = false;
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll(".restore-dialog"), function (dialog) {
    var name = dialog.getAttribute("data-name");
    var form = dialog.querySelector("form");
    var until = form.elements.namedItem("until");
    var confirm = form.elements.namedItem("confirm");
    var checkButton = dialog.querySelector("[data-action='dry-run']");
    var restoreButton = dialog.querySelector("[data-action='restore']");
    var box = dialog.querySelector("[data-field='findings']");
    var error = dialog.querySelector("[data-field='error']");
    var checkedFor = null;  // the point in time the shown dry run is for
    var busy = false;

    function update() {
      restoreButton.disabled = busy || confirm.value.trim() !== "RESTORE" || checkedFor !== until.value.trim();
    }
    function dryRun() {
      busy = true; update();
      checkButton.disabled = true;
      J.showError(error, null);
      box.textContent = "Checking every event of the archive…";
      var asked = until.value.trim();
      return J.send("/admin/backups/" + encodeURIComponent(name) + "/dry-run", csrf, { until: asked })
        .then(function (data) {
          box.replaceChildren(J.findings(data.dry_run));
          checkedFor = asked;
        })
        .catch(function (e) { box.textContent = ""; checkedFor = null; J.showError(error, e); })
        .finally(function () { busy = false; checkButton.disabled = false; update(); });
    }
    checkButton.addEventListener("click", dryRun);
    until.addEventListener("input", function () { if (checkedFor !== null && checkedFor !== until.value.trim()) box.textContent = ""; update(); });
    confirm.addEventListener("input", update);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (restoreButton.disabled) return;
      busy = true; update();
      checkButton.disabled = true;
      J.showError(error, null);
      J.send("/admin/backups/" + encodeURIComponent(name) + "/restore", csrf, { until: until.value.trim(), confirm: confirm.value.trim() })
        .then(function (data) { window.location.assign("/admin/restore?job=" + data.job.id); })
        .catch(function (e) { busy = false; checkButton.disabled = false; update(); J.showError(error, e); });
    });
    dialog.addEventListener("close", function () { confirm.value = ""; update(); });
  });
})();
