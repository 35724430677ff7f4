// ironkit web page: live updates by polling small JSON endpoints.
"use strict";
(function () {
  var pollMS = parseInt(document.body.dataset.pollMs, 10) || 2000;
  var live = document.getElementById("live");

  function announce(text) {
    if (live) { live.textContent = text; }
  }

  function poll(url, apply) {
    var stopped = false;
    function tick() {
      if (stopped) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 401) { stopped = true; announce("Your session ended: log in again."); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (data) { if (data) { stopped = apply(data) === false; } })
        .catch(function () { /* the next tick retries */ })
        .finally(function () { if (!stopped) { setTimeout(tick, pollMS); } });
    }
    setTimeout(tick, pollMS);
  }

  function setStatus(cell, st) {
    if (cell.dataset.status === st.status) { return false; }
    cell.dataset.status = st.status;
    var badge = document.createElement("span");
    badge.className = "badge s-" + st.status;
    badge.textContent = st.status_title;
    cell.replaceChildren(badge);
    return true;
  }

  var table = document.getElementById("machines");
  if (table && table.dataset.json) {
    poll(table.dataset.json, function (list) {
      list.forEach(function (st) {
        var row = table.querySelector('tr[data-system-id="' + st.system_id + '"]');
        if (!row) { return; }
        if (setStatus(row.querySelector(".status"), st)) {
          announce(st.hostname + " is now " + st.status_title);
        }
        row.querySelector(".power").textContent = st.power_state || "unknown";
        row.querySelector(".owner").textContent = st.owner || "—";
      });
    });
  }

  var machine = document.getElementById("machine");

  // refreshSections fetches the machine page again and swaps in its
  // sections (actions, inventory, events) in place: no reload, and a
  // section holding the keyboard focus is left alone.
  function refreshSections() {
    fetch(location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("section[data-live]").forEach(function (fresh) {
          var old = document.getElementById(fresh.id);
          if (old && !old.contains(document.activeElement)) {
            old.replaceWith(document.importNode(fresh, true));
          }
        });
      })
      .catch(function () { /* the next change retries */ });
  }

  if (machine) {
    var id = machine.dataset.systemId;
    poll("/ui/machines/" + encodeURIComponent(id) + "/state.json", function (st) {
      if (setStatus(document.getElementById("status"), st)) {
        announce("The machine is now " + st.status_title);
      }
      document.getElementById("power").textContent = st.power_state || "unknown";
      document.getElementById("owner").textContent = st.owner || "—";
      if (String(st.revision) !== machine.dataset.revision) {
        machine.dataset.revision = String(st.revision);
        refreshSections();
      }
    });
  }

  var imp = document.getElementById("import");
  if (imp && imp.dataset.running === "true") {
    poll("/ui/boot-resources/import.json", function (st) {
      var pct = st.total_bytes > 0 ? Math.floor(st.done_bytes * 100 / st.total_bytes) : 0;
      var bar = document.getElementById("import-progress");
      if (bar) { bar.value = pct; bar.textContent = pct + "%"; }
      var text = document.getElementById("import-text");
      if (text) { text.textContent = st.done_bytes + " of " + st.total_bytes + " bytes (" + pct + "%)"; }
      if (!st.running) {
        var state = document.getElementById("import-state");
        if (state) { state.firstChild.textContent = st.error ? "Failed " : "Finished "; }
        announce(st.error ? "Import failed: " + st.error : "Import finished");
        return false;
      }
    });
  }
})();
