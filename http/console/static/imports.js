// The Imports page: a CSV export and its options, the dry run's report, then the import
// job's live progress (polled every second through TTJobs, no reload).
(function () {
  "use strict";
  var root = document.getElementById("imports");
  if (!root || !window.TTJobs) return;
  var J = window.TTJobs;
  var csrf = root.getAttribute("data-csrf");
  var seconds = parseInt(root.getAttribute("data-poll"), 10) || 1;
  var maxBytes = parseInt(root.getAttribute("data-max-bytes"), 10) || 0;

  var form = document.getElementById("import-form");
  var input = document.getElementById("import-file");
  var info = document.getElementById("file-info");
  var options = ["import-format", "import-user", "import-timezone"].map(function (id) { return document.getElementById(id); });
  var dryRunButton = document.getElementById("dry-run");
  var start = document.getElementById("start");
  var report = document.getElementById("report");
  var reportEmpty = document.getElementById("report-empty");
  var errorBox = document.getElementById("imports-error");
  var progress = document.getElementById("progress");
  var bar = document.getElementById("progress-bar");
  var progressStatus = document.getElementById("progress-status");
  var outcome = document.getElementById("outcome");

  var file = null;
  var checked = false;  // a dry run of this file with these options passed
  var running = false;

  function update() {
    dryRunButton.disabled = running || !file;
    start.disabled = running || !file || !checked;
    input.disabled = running;
    options.forEach(function (field) { field.disabled = running; });
  }

  function forget() {
    checked = false;
    report.replaceChildren();
    reportEmpty.hidden = false;
    update();
  }

  input.addEventListener("change", function () {
    J.showError(errorBox, null);
    file = (input.files && input.files[0]) || null;
    if (file && maxBytes && file.size > maxBytes) {
      J.showError(errorBox, new Error(file.name + " is larger than the upload limit (" + J.size(maxBytes) + ")."));
      file = null;
    }
    info.textContent = file ? "Chosen: " + file.name + " (" + J.size(file.size) + ")" : "";
    forget();
  });
  options.forEach(function (field) {
    field.addEventListener(field.tagName === "SELECT" ? "change" : "input", forget);
  });

  function formData() {
    var data = new FormData();
    options.forEach(function (field) {
      if (field.value.trim()) data.append(field.name, field.value.trim());
    });
    data.append("file", file, file.name);
    return data;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function names(items, show) {
    return items.length ? items.length + ": " + items.map(show).join(", ") : "none";
  }

  function count(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function inClient(client) { return client ? " (" + client + ")" : ""; }

  // Every row that will not be imported, with its line in the file.
  function problems(list, caption) {
    var wrap = element("div", "table-wrap");
    wrap.setAttribute("tabindex", "0");
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", caption);
    var table = element("table");
    table.appendChild(element("caption", "", caption));
    var head = element("tr");
    [["Line", "num"], ["Problem", ""]].forEach(function (h) {
      var th = element("th", h[1], h[0]);
      th.setAttribute("scope", "col");
      head.appendChild(th);
    });
    var thead = element("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = element("tbody");
    list.forEach(function (p) {
      var row = element("tr");
      row.appendChild(element("td", "num", p.line));
      row.appendChild(element("td", "", p.message));
      body.appendChild(row);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  }

  function showPlan(plan) {
    var box = element("div", "stack");
    var banner = element("p", "banner banner-ok", "Dry run passed: " + count(plan.entries_to_create, "entry", "entries") + " would be created" +
      (plan.problems.length ? "; " + count(plan.problems.length, "row", "rows") + " cannot be imported (below)." : "."));
    banner.setAttribute("role", "status");
    box.appendChild(banner);
    box.appendChild(J.facts([
      ["File", file.name],
      ["Rows read", plan.rows_read],
      ["Entries to create", plan.entries_to_create],
      ["Already imported", plan.already_imported],
      ["Clients to create", names(plan.clients_to_create, function (c) { return c; })],
      ["Projects to create", names(plan.projects_to_create, function (p) { return p.name + inClient(p.client); })],
      ["Tasks to create", names(plan.tasks_to_create, function (t) { return t.name + " in " + t.project + inClient(t.client); })],
      ["Rows that cannot be imported", plan.problems.length]
    ]));
    if (plan.problems.length) box.appendChild(problems(plan.problems, "Rows that cannot be imported"));
    reportEmpty.hidden = true;
    report.replaceChildren(box);
  }

  dryRunButton.addEventListener("click", function () {
    if (!file) return;
    checked = false; running = true; update();
    J.showError(errorBox, null);
    reportEmpty.hidden = true;
    report.textContent = "Uploading " + file.name + " and reading every row…";
    J.send("/admin/imports/dry-run", csrf, formData()).then(function (answer) {
      showPlan(answer.dry_run);
      checked = true;
    }, function (e) {
      forget();
      J.showError(errorBox, e);
    }).finally(function () { running = false; update(); });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (start.disabled) return;
    running = true; update();
    J.showError(errorBox, null);
    J.send("/admin/imports/start", csrf, formData()).then(function (answer) {
      follow(answer.job.id);
    }).catch(function (e) {
      running = false; update();
      J.showError(errorBox, e);
    });
  });

  function put(name, text) {
    progress.querySelector("[data-field='" + name + "']").textContent = text === null || text === undefined ? "" : String(text);
  }

  // Writing the entries is 90 % of the work; the read models catching up the rest.
  function percent(job) {
    if (job.state === "done") return 100;
    var share = job.total ? job.done / job.total : 0;
    if (job.phase === "read models") return Math.round(90 + 10 * share);
    return job.phase === "import" ? Math.round(90 * share) : 0;
  }

  function finished(job) {
    var box = element("div", "stack");
    if (job.state === "done") {
      var r = job.result || {};
      var banner = element("p", "banner banner-ok", "Import complete: " + count(r.entries_created, "entry", "entries") + ", " +
        count(r.clients_created, "client", "clients") + ", " + count(r.projects_created, "project", "projects") +
        " and " + count(r.tasks_created, "task", "tasks") + " created.");
      banner.setAttribute("role", "status");
      box.appendChild(banner);
      box.appendChild(J.facts([
        ["Entries created", r.entries_created],
        ["Clients created", r.clients_created],
        ["Projects created", r.projects_created],
        ["Tasks created", r.tasks_created],
        ["Already imported (skipped)", r.already_imported],
        ["Rows not imported", (r.problems || []).length],
        ["Shown in every read model", r.read_models_caught_up === false ? "not yet (still catching up)" : "yes"]
      ]));
      if (r.problems && r.problems.length) box.appendChild(problems(r.problems, "Rows not imported"));
    } else {
      var failed = element("p", "banner banner-error", "The import failed: " + (job.error || job.state) + ". Entries of batches written before the failure stay; importing the file again skips them.");
      failed.setAttribute("role", "alert");
      box.appendChild(failed);
    }
    outcome.replaceChildren(box);
  }

  function show(data) {
    var job = data.job;
    var share = percent(job);
    progress.hidden = false;
    bar.value = share;
    put("state", job.state);
    put("phase", job.state === "running" ? job.phase : job.state);
    put("count", job.total ? job.done + " / " + job.total : "");
    put("percent", share + " %");
    progressStatus.textContent = job.state === "running"
      ? "Job " + job.id + ". Refreshed every " + seconds + " s."
      : "Job " + job.id + " ended.";
    if (job.state !== "running") {
      // Done: another import starts from a new dry run.
      checked = false; running = false; update();
      finished(job);
    }
  }

  function follow(jobId) {
    running = true; update();
    progress.hidden = false;
    outcome.replaceChildren();
    J.poll("/admin/jobs/" + jobId + ".json", seconds, show, function (d) { return d.job.state !== "running"; });
  }

  update();
})();
