// Refreshes the dashboard's figures from /admin/status.json without reloading the page.
(function () {
  "use strict";
  var root = document.getElementById("status");
  if (!root) return;
  var seconds = parseInt(root.getAttribute("data-refresh"), 10) || 2;
  var source = root.getAttribute("data-source");

  function field(name) { return root.querySelector("[data-field='" + name + "']"); }

  function cell(tag, text, className) {
    var el = document.createElement(tag);
    if (tag === "th") el.setAttribute("scope", "row");
    if (className) el.className = className;
    el.textContent = String(text);
    return el;
  }

  function show(status) {
    field("head").textContent = String(status.head);
    var redis = field("redis");
    redis.textContent = status.redis;
    redis.className = "state state-" + status.redis;
    field("maintenance").textContent = status.maintenance ? "on: " + status.maintenance.reason : "off";
    var body = field("projections");
    var rows = status.projections.map(function (p) {
      var row = document.createElement("tr");
      row.appendChild(cell("th", p.name));
      row.appendChild(cell("td", p.store));
      row.appendChild(cell("td", p.position, "num"));
      row.appendChild(cell("td", p.lag_events, "num"));
      row.appendChild(cell("td", p.lag_seconds, "num"));
      var state = cell("td", "");
      state.appendChild(cell("span", p.state, "state state-" + p.state));
      row.appendChild(state);
      return row;
    });
    body.replaceChildren.apply(body, rows);
    showWebhooks(status.webhooks);
    field("checked_at").textContent = status.checked_at;
  }

  function showWebhooks(hooks) {
    var state = field("webhooks-state");
    state.textContent = hooks.state;
    state.className = "state state-" + hooks.state;
    field("webhooks-lag").textContent = String(hooks.lag_events);
    field("webhooks-pending").textContent = String(hooks.pending_deliveries);
    field("webhooks-disabled").textContent = String(hooks.disabled_subscriptions);
    var body = field("webhooks-failing");
    var rows = hooks.failing_subscriptions.map(function (f) {
      var row = document.createElement("tr");
      row.appendChild(cell("th", f.webhook_id));
      row.appendChild(cell("td", f.attempts, "num"));
      row.appendChild(cell("td", f.last_status_code));
      row.appendChild(cell("td", f.last_error));
      row.appendChild(cell("td", f.failing_since));
      row.appendChild(cell("td", f.next_attempt_at));
      return row;
    });
    if (rows.length === 0) {
      var none = document.createElement("tr");
      var text = cell("td", "No webhook is failing.");
      text.setAttribute("colspan", "6");
      none.appendChild(text);
      rows.push(none);
    }
    body.replaceChildren.apply(body, rows);
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();  // signed out meanwhile: show the sign-in page
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (status) { if (status) show(status); })
      .catch(function () { /* the next round tries again */ })
      .finally(function () { window.setTimeout(refresh, seconds * 1000); });
  }

  window.setTimeout(refresh, seconds * 1000);
})();
