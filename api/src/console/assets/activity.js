// The console's live page: follow the tenant's feed (server-sent events of
// the console, authenticated by the session cookie) and add what happens
// to the page. Text only goes in through textContent, never as HTML.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var feed = document.getElementById("feed");
  var runs = document.getElementById("runs");
  var state = document.getElementById("live-state");
  if (!live || !feed || !live.dataset.events || !window.EventSource) {
    return;
  }
  // The page keeps this many entries; older ones are on the audit page.
  var KEPT = 200;

  function say(text) {
    if (state) {
      state.textContent = text;
    }
  }

  function element(name, text, className) {
    var node = document.createElement(name);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function code(text) {
    var cell = element("td");
    cell.appendChild(element("code", text));
    return cell;
  }

  function addEntry(entry) {
    var row = element("tr", null, "fresh");
    row.appendChild(element("td", entry.seq));
    row.appendChild(element("td", entry.time, "nowrap"));
    row.appendChild(code(entry.actor));
    row.appendChild(code(entry.action));
    row.appendChild(element("td", entry.target));
    row.appendChild(element("td", entry.outcome));
    var details = JSON.stringify(entry.details);
    if (details.length > 160) {
      details = details.slice(0, 160) + "\u2026";
    }
    var cell = code(details);
    cell.className = "details";
    row.appendChild(cell);
    feed.insertBefore(row, feed.firstChild);
    while (feed.children.length > KEPT) {
      feed.removeChild(feed.lastChild);
    }
    var empty = document.getElementById("feed-empty");
    if (empty) {
      empty.remove();
    }
  }

  function statusOf(run) {
    if (run.status === "running" && run.queued) {
      return "queued";
    }
    return run.status;
  }

  function fillRun(row, run) {
    var status = statusOf(run);
    var cells = row.children;
    cells[2].textContent = "";
    cells[2].appendChild(element("span", status, "badge status-" + status));
    if (run.cancelled_by) {
      cells[2].appendChild(element("br"));
      cells[2].appendChild(element("span", "cancelled by " + run.cancelled_by, "muted"));
    }
    cells[3].textContent = "";
    (run.streams || []).forEach(function (s) {
      cells[3].appendChild(element("code", s.stream));
      var done = s.done ? ", done" : "";
      cells[3].appendChild(document.createTextNode(": " + s.records_written + " records in " + s.batches + " batches" + done));
      cells[3].appendChild(element("br"));
    });
    cells[3].appendChild(element("span", run.attempts + " calls, fuel " + run.fuel, "muted"));
    cells[4].textContent = run.started_at;
    if (run.ended_at) {
      cells[4].appendChild(element("br"));
      cells[4].appendChild(element("span", "ended " + run.ended_at, "muted"));
    }
    cells[5].textContent = run.last_error || "";
    if (run.status !== "running" || run.cancelled_by) {
      cells[6].textContent = "";
    } else if (!cells[6].firstChild && runs.dataset.cancel) {
      var form = element("form");
      form.method = "post";
      form.action = runs.dataset.cancel + encodeURIComponent(run.id) + "/cancel";
      var token = element("input");
      token.type = "hidden";
      token.name = "csrf";
      token.value = runs.dataset.csrf;
      form.appendChild(token);
      form.appendChild(element("button", "Cancel", "danger"));
      cells[6].appendChild(form);
    }
  }

  function updateRun(run) {
    if (!runs) {
      return;
    }
    var row = null;
    for (var i = 0; i < runs.children.length; i++) {
      if (runs.children[i].dataset.run === run.id) {
        row = runs.children[i];
      }
    }
    if (!row) {
      row = element("tr", null, "fresh");
      row.dataset.run = run.id;
      var first = element("td");
      first.appendChild(element("code", run.id));
      first.appendChild(element("br"));
      first.appendChild(element("span", (run.task ? "agent run" : "sync") + " by " + run.requested_by, "muted"));
      row.appendChild(first);
      row.appendChild(element("td", run.plugin));
      for (var c = 0; c < 5; c++) {
        row.appendChild(element("td"));
      }
      row.children[4].className = "nowrap";
      row.children[5].className = "run-error error";
      runs.insertBefore(row, runs.firstChild);
      var table = runs.closest("table");
      if (table) {
        table.classList.remove("hidden");
      }
      var none = document.getElementById("runs-empty");
      if (none) {
        none.remove();
      }
    }
    fillRun(row, run);
  }

  function parsed(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return null;
    }
  }

  var source = new EventSource(live.dataset.events);
  source.onopen = function () {
    say("· live");
  };
  source.onerror = function () {
    say(source.readyState === EventSource.CLOSED ? "· live updates stopped; refresh the page" : "· reconnecting…");
  };
  source.addEventListener("audit", function (event) {
    var entry = parsed(event);
    if (entry) {
      addEntry(entry);
    }
  });
  source.addEventListener("run", function (event) {
    var run = parsed(event);
    if (run) {
      updateRun(run);
    }
  });
  source.addEventListener("end", function (event) {
    source.close();
    say("· live updates ended: " + event.data);
  });
})();
