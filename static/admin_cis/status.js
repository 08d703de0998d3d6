// Keeps the admin's training panel, and the version's status wherever the page shows it (its
// row in the list, its page's status field), current: polls the JSON status every 2 s while a
// training is queued or running, and reloads the page once it has finished. The page is
// complete without it.
(function () {
  "use strict";
  var panel = document.getElementById("cis-training");
  if (!panel || !panel.dataset.inProgress || !window.fetch) return;
  var url = panel.dataset.statusUrl;
  var failures = 0;

  function field(name) {
    return panel.querySelector('[data-field="' + name + '"]');
  }

  function show(state) {
    var status = field("status");
    if (status) {
      status.textContent = state.status;
      status.className = "cis-status cis-status-" + state.status;
    }
    if (field("progress")) {
      field("progress").textContent = state.progress === state.status ? "" : "· " + state.progress;
    }
    if (field("elapsed")) field("elapsed").textContent = state.elapsed_text || "—";
    if (field("since") && state.started_at) {
      // The same UTC wall clock as the page's own "started ..." (TIME_ZONE is UTC).
      field("since").textContent = "started " + state.started_at.replace("T", " ").slice(0, 19);
    }
    var bar = field("bar");
    if (bar) {
      if (state.phase === "training" && state.epochs) {
        bar.max = state.epochs;
        bar.value = state.epoch;
      } else if (state.steps) {
        bar.max = state.steps; // the phase's own steps: t-SNE's iterations, weights tried...
        bar.value = state.step;
      } else {
        bar.removeAttribute("value"); // indeterminate in a phase that counts no steps
      }
    }
    showVersion(state);
    var error = field("error");
    if (error) {
      error.textContent = state.error || "";
      error.hidden = !state.error;
    }
  }

  // The version's status cells outside the panel (the list's row, the status field).
  function showVersion(state) {
    if (state.id === null) return;
    document.querySelectorAll('[data-cis-version="' + state.id + '"]').forEach(function (cell) {
      cell.textContent = state.status;
      cell.className = "cis-status cis-status-" + state.status;
    });
    var detail = state.in_progress && state.progress !== state.status ? " · " + state.progress : "";
    document
      .querySelectorAll('[data-cis-version-progress="' + state.id + '"]')
      .forEach(function (cell) {
        cell.textContent = detail;
      });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        show(state);
        if (state.in_progress) {
          window.setTimeout(poll, 2000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        // A server restart or a lost connection: keep trying, less often, for a while.
        failures += 1;
        if (field("progress")) field("progress").textContent = "· status unavailable, retrying…";
        if (failures < 30) window.setTimeout(poll, Math.min(30000, 2000 * failures));
      });
  }

  window.setTimeout(poll, 2000);
})();
