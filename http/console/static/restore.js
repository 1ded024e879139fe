// The Restore page: an archive by drag and drop or file picker, the dry run, the
// confirmation, then the restore's live progress (polled every second, no reload).
(function () {
  "use strict";
  var root = document.getElementById("restore");
  if (!root || !window.TTJobs) return;
  var J = window.TTJobs;
  var csrf = root.getAttribute("data-csrf");
  var seconds = parseInt(root.getAttribute("data-poll"), 10) || 1;
  var maxBytes = parseInt(root.getAttribute("data-max-bytes"), 10) || 0;

  var form = document.getElementById("restore-form");
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("archive-file");
  var info = document.getElementById("file-info");
  var until = document.getElementById("until");
  var dryRunButton = document.getElementById("dry-run");
  var confirm = document.getElementById("confirm");
  var start = document.getElementById("start");
  var report = document.getElementById("report");
  var errorBox = document.getElementById("restore-error");
  var progress = document.getElementById("progress");
  var bar = document.getElementById("progress-bar");
  var progressStatus = document.getElementById("progress-status");
  var outcome = document.getElementById("outcome");

  var file = null;
  var checked = null;  // {upload, until} of the dry run shown
  var running = false;

  function update() {
    dryRunButton.disabled = running || !file;
    start.disabled = running || !file || !confirm.checked;
    input.disabled = running;
    until.disabled = running;
    confirm.disabled = running;
    zone.classList.toggle("dropzone-disabled", running);
  }

  function choose(chosen) {
    J.showError(errorBox, null);
    file = chosen || null;
    checked = null;
    report.textContent = "";
    if (file && maxBytes && file.size > maxBytes) {
      J.showError(errorBox, new Error(file.name + " is larger than the upload limit (" + J.size(maxBytes) + ")."));
      file = null;
    }
    info.textContent = file ? "Chosen: " + file.name + " (" + J.size(file.size) + ")" : "";
    update();
  }

  input.addEventListener("change", function () { choose(input.files && input.files[0]); });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      if (!running) zone.classList.add("dropzone-over");
    });
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("dropzone-over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("dropzone-over");
    if (running) return;
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) choose(files[0]);
  });
  until.addEventListener("input", function () { checked = null; report.textContent = ""; });
  confirm.addEventListener("change", update);

  function dryRun() {
    var data = new FormData();
    var asked = until.value.trim();
    var sent = file;
    if (asked) data.append("until", asked);
    data.append("file", file, file.name);
    report.textContent = "Uploading " + file.name + " and checking every event…";
    return J.send("/admin/restore/upload", csrf, data).then(function (answer) {
      report.replaceChildren(J.findings(answer.dry_run, sent.name));
      checked = { upload: answer.upload, until: asked };
      return checked;
    }, function (error) {
      report.textContent = "";
      checked = null;
      throw error;
    });
  }

  dryRunButton.addEventListener("click", function () {
    if (!file) return;
    running = true; update();
    J.showError(errorBox, null);
    dryRun().catch(function (e) { J.showError(errorBox, e); })
      .finally(function () { running = false; update(); });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (start.disabled) return;
    running = true; update();
    J.showError(errorBox, null);
    var ready = checked && checked.until === until.value.trim() ? Promise.resolve(checked) : dryRun();
    ready.then(function (done) {
      return J.send("/admin/restore/start", csrf, { upload: done.upload, until: done.until, confirmed: true });
    }).then(function (answer) {
      follow(answer.job.id);
    }).catch(function (e) {
      running = false; update();
      J.showError(errorBox, e);
    });
  });

  function put(name, text) {
    progress.querySelector("[data-field='" + name + "']").textContent = text === null || text === undefined ? "" : String(text);
  }

  function fact(list, term, value) {
    var dt = document.createElement("dt");
    dt.textContent = term;
    var dd = document.createElement("dd");
    dd.textContent = String(value);
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function finished(job, p) {
    var box = document.createElement("div");
    box.className = "stack";
    var banner = document.createElement("p");
    if (job.state === "done") {
      var r = job.result || {};
      banner.className = "banner banner-ok";
      banner.textContent = "Restore complete: " + r.events + " events in " + r.streams + " streams, up to position " + r.last_position + ", in " + r.seconds + " s. The service is out of maintenance.";
      box.appendChild(banner);
      var list = document.createElement("dl");
      list.className = "facts";
      fact(list, "Events restored", r.events);
      fact(list, "Streams", r.streams);
      fact(list, "Last position", r.last_position);
      Object.keys(r.read_models || {}).forEach(function (name) { fact(list, "Read model " + name, r.read_models[name] + " events replayed"); });
      fact(list, "Safety backup", r.safety_backup || "none (the store was empty)");
      box.appendChild(list);
    } else {
      banner.className = "banner banner-error";
      banner.setAttribute("role", "alert");
      banner.textContent = "The restore failed: " + (job.error || job.state) + ".";
      box.appendChild(banner);
      var next = document.createElement("p");
      next.textContent = "What to do next: " + (p.next_steps || "");
      box.appendChild(next);
      var link = document.createElement("a");
      link.href = "/admin/projections";
      link.textContent = "Open the Read models page to rebuild";
      box.appendChild(link);
    }
    outcome.replaceChildren(box);
  }

  function show(data) {
    var job = data.job;
    var p = data.progress || {};
    progress.hidden = false;
    bar.value = p.percent || 0;
    put("state", job.state);
    put("phase", job.state === "running" ? p.phase : job.state);
    put("percent", (p.percent || 0) + " %");
    put("events_loaded", p.events_loaded);
    if (p.read_models) {
      put("read_models", Object.keys(p.read_models).length + " read models, " + Object.keys(p.read_models).map(function (k) { return k + " " + p.read_models[k]; }).join(", "));
    } else if (p.read_models_total) {
      put("read_models", "position " + p.read_models_done + " of " + p.read_models_total);
    } else {
      put("read_models", "not yet");
    }
    put("time_left", job.state === "running" ? (p.seconds_left === null ? "estimating…" : J.duration(p.seconds_left)) : "none");
    put("maintenance", data.maintenance ? "on (" + data.maintenance + ")" : "off");
    progressStatus.textContent = job.state === "running"
      ? "Job " + job.id + ", " + J.duration(p.seconds_elapsed) + " so far. Refreshed every " + seconds + " s."
      : "Job " + job.id + " ended after " + J.duration(p.seconds_elapsed) + ".";
    if (job.state !== "running") {
      // The upload is deleted when the job ends: another restore starts from a file again.
      file = null; checked = null;
      input.value = ""; confirm.checked = false; info.textContent = "";
      running = false; update();
      finished(job, p);
    }
  }

  function follow(jobId) {
    running = true; update();
    progress.hidden = false;
    J.poll("/admin/jobs/" + jobId + ".json", seconds, show, function (d) { return d.job.state !== "running"; });
  }

  update();
  var job = root.getAttribute("data-job");
  if (job) follow(job);
})();
