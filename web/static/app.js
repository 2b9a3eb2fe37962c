// bulkrefund web pages: progressive enhancement only. Every page works
// without this file (forms post, the watch page reloads itself every five
// seconds); with it, progress updates live over server-sent events, the
// rows table refreshes in place, and a sheet can be dropped on the upload
// form. Loaded from /static under a CSP that forbids inline script.
"use strict";

(function () {
  function group(n) {
    return Number(n).toLocaleString("en-US");
  }

  // Live progress on the watch page.
  var prog = document.getElementById("progress");
  if (prog && window.EventSource) {
    var bar = document.getElementById("bar");
    var runState = document.getElementById("run-state");
    var rows = document.getElementById("rows");
    var fields = {};
    prog.querySelectorAll("[data-field]").forEach(function (el) {
      fields[el.getAttribute("data-field")] = el;
    });
    var set = function (name, text) {
      if (fields[name]) fields[name].textContent = text;
    };
    var refreshRows = function () {
      if (!rows) return;
      var url = rows.getAttribute("data-rows") + "&base=watch";
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          // Only the table and the pager are replaced: the filter form
          // (and whatever is being typed in it) stays as it is.
          var tmp = document.createElement("div");
          tmp.innerHTML = html;
          ["tbody", ".pager"].forEach(function (sel) {
            var fresh = tmp.querySelector("#rows " + sel);
            var old = rows.querySelector(sel);
            if (fresh && old) old.replaceWith(fresh);
          });
        })
        .catch(function () {});
    };
    var lastRows = 0;
    var sawRunning = false;
    var es = new EventSource(prog.getAttribute("data-events"));
    es.addEventListener("progress", function (ev) {
      var p = JSON.parse(ev.data);
      bar.max = p.total;
      bar.value = p.done;
      set("done", group(p.done));
      set("total", group(p.total));
      set("percent", p.percent);
      ["succeeded", "failed", "pending", "unknown", "blocked", "planned", "submitting"].forEach(function (k) {
        set(k, group(p[k]));
      });
      set("rate", p.rate.toFixed(1));
      set("eta", p.eta_seconds >= 0 ? p.eta_seconds + " s" : "—");
      set("succeeded_amounts", p.succeeded_amounts);
      if (fields.error) {
        fields.error.textContent = p.error || "";
        fields.error.hidden = !p.error;
      }
      if (runState) {
        var st = p.running ? "running" : p.status;
        runState.textContent = st;
        runState.className = "status status-" + st;
      }
      prog.setAttribute("data-running", p.running);
      if (p.running) {
        sawRunning = true;
        var now = Date.now();
        if (now - lastRows > 3000) {
          lastRows = now;
          refreshRows();
        }
      }
    });
    es.addEventListener("end", function () {
      es.close();
      if (sawRunning) refreshRows(); // the rows as the run left them
    });
  }

  // Drop a sheet on the upload form.
  var drop = document.getElementById("drop");
  if (drop) {
    var input = drop.querySelector("input[type=file]");
    var title = drop.querySelector(".drop-title");
    var show = function () {
      if (input.files && input.files.length) title.textContent = input.files[0].name;
    };
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (t) {
      drop.addEventListener(t, function (e) {
        e.preventDefault();
        drop.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (t) {
      drop.addEventListener(t, function () {
        drop.classList.remove("over");
      });
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        show();
      }
    });
  }
})();
