// podid console: progressive enhancement only. Every page works without
// this script; with it, deletions ask first and the live feed follows new
// audit records over server-sent events. No innerHTML: rows are built
// from text nodes.
"use strict";
(function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
  var table = document.getElementById("feed");
  if (!table || !window.EventSource) { return; }
  var status = document.getElementById("feed-status");
  var body = table.tBodies[0];
  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) {
      var s = document.createElement("span");
      s.className = cls;
      s.textContent = text;
      td.appendChild(s);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }
  var es = new EventSource(table.getAttribute("data-stream"));
  es.addEventListener("open", function () { status.textContent = "Live: new records appear at the top."; });
  es.addEventListener("audit", function (ev) {
    var r = JSON.parse(ev.data);
    if (r.id && body.querySelector('tr[data-id="' + CSS.escape(r.id) + '"]')) { return; }
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", r.id || "");
    tr.className = "new";
    cell(tr, r.time);
    cell(tr, r.decision + (r.count > 1 ? " ×" + r.count : ""), "decision-" + r.decision);
    cell(tr, r.kind);
    cell(tr, r.cluster || "");
    cell(tr, (r.namespace || "") + (r.serviceAccount ? "/" + r.serviceAccount : ""));
    var details = [r.podName ? "pod " + r.podName : "", r.roleArn, r.action ? r.action + " on " + r.resource : "", r.errorCode ? r.errorCode + ":" : "", r.reason].filter(Boolean).join(" ");
    cell(tr, details).className = "wrap";
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 500) { body.deleteRow(body.rows.length - 1); }
    status.textContent = "Live: new record at " + r.time + ".";
  });
  es.addEventListener("end", function () { es.close(); status.textContent = "The session ended; sign in again to follow the feed."; });
  es.addEventListener("failure", function (ev) {
    es.close();
    var e = JSON.parse(ev.data);
    status.textContent = "The feed stopped: " + e.Code + ": " + e.Message;
  });
  es.addEventListener("error", function () {
    if (es.readyState === EventSource.CLOSED) { status.textContent = "The feed stopped; reload the page to follow it again."; }
    else { status.textContent = "Reconnecting…"; }
  });
})();
