// Live timeline: append events from the server-sent event stream. Text only: never HTML.
(function () {
  "use strict";
  // Tell the server the browser's time zone (used where the profile says "follow my browser").
  function rememberZone() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (err) { return; }
    if (/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  }
  // A time as the page shows the others: in the viewer's zone, with its abbreviation.
  function clock(iso) {
    var zone = document.body.getAttribute("data-tz") || "UTC";
    try {
      return new Intl.DateTimeFormat("en-GB", {
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: zone, timeZoneName: "short"
      }).format(new Date(iso));
    } catch (err) { return (iso || "").slice(11, 19) + " UTC"; }
  }
  function start() {
    var list = document.getElementById("timeline");
    if (!list || !window.EventSource) { return; }
    var status = document.getElementById("live-status");
    var url = list.getAttribute("data-stream") + "?after=" + list.getAttribute("data-after");
    var source = new EventSource(url);
    source.onopen = function () { if (status) { status.textContent = "· live"; } };
    source.onerror = function () { if (status) { status.textContent = "· reconnecting…"; } };
    source.addEventListener("timeline", function (msg) {
      var e = JSON.parse(msg.data);
      var li = document.createElement("li");
      li.className = "new";
      var t = document.createElement("time");
      t.setAttribute("datetime", e.at || "");
      t.setAttribute("title", (e.at || "").slice(0, 16).replace("T", " ") + " UTC");
      t.textContent = clock(e.at);
      li.setAttribute("data-type", e.type);
      var said = document.createElement("span");
      said.className = "said";
      said.textContent = " " + (typeof e.summary === "string" ? e.summary : e.type);
      var who = document.createElement("span");
      who.className = "muted";
      who.textContent = " · " + e.actor;
      li.append(t, said, who);
      list.appendChild(li);
      refreshSoon();  // the rest of the page follows what just happened
    });
  }
  // The whole page live: regions marked data-live are fetched again and swapped in place when
  // the timeline moves (incident page) or every data-refresh seconds (countdowns, board, queue).
  // A region someone is typing in, has focused, or has opened a <details> in is left alone.
  function busy(el) {
    var active = document.activeElement;
    if (active && active !== document.body && el.contains(active) &&
        /^(INPUT|TEXTAREA|SELECT|BUTTON|SUMMARY)$/.test(active.tagName)) { return true; }
    if (el.querySelector("details[open]")) { return true; }
    return Array.prototype.some.call(el.querySelectorAll("input, textarea, select"), function (i) {
      if (i.type === "hidden") { return false; }
      if (i.type === "checkbox" || i.type === "radio") { return i.checked !== i.defaultChecked; }
      if (i.tagName === "SELECT") {
        return Array.prototype.some.call(i.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return i.value !== i.defaultValue;
    });
  }
  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.pathname + location.search, {credentials: "same-origin", headers: {"X-Live": "1"}})
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var now = el.id && fresh.getElementById(el.id);
          if (!now || busy(el) || now.innerHTML === el.innerHTML) { return; }
          el.replaceChildren.apply(el, Array.prototype.map.call(now.childNodes, function (n) {
            return document.importNode(n, true);
          }));
        });
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; setTimeout(refresh, 300); }
      });
  }
  var soon = null;
  function refreshSoon() { clearTimeout(soon); soon = setTimeout(refresh, 400); }
  // Delivery progress: refresh the counts of updates still sending, every 3 seconds.
  function progress() {
    var live = document.querySelectorAll('article.update[data-status="sending"]');
    live.forEach(function (el) {
      fetch("/api/v1/updates/" + el.getAttribute("data-update"), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (u) {
          if (!u) { return; }
          var d = u.deliveries;
          var set = function (name, value) {
            var b = el.querySelector('[data-count="' + name + '"]');
            if (b) { b.textContent = String(value); }
          };
          set("delivered", d.delivered); set("pending", d.pending); set("failed", d.failed + d.dead);
          el.setAttribute("data-status", u.status);
          var badge = el.querySelector(".badge");
          if (badge) {
            badge.textContent = u.status.replace(/_/g, " ");
            badge.className = "badge status-" + u.status;
          }
        });
    });
  }
  // The declare form: each severity says what it means in the playbook chosen.
  function meanings() {
    var chosen = document.querySelector('input[name="playbook"]:checked');
    var map = chosen ? JSON.parse(chosen.getAttribute("data-severities") || "{}") : {};
    document.querySelectorAll(".sev-choice").forEach(function (el) {
      var m = el.querySelector(".meaning");
      var sev = el.getAttribute("data-sev");
      if (m) { m.textContent = map[sev] || (chosen ? "(not in this playbook)" : ""); }
      var input = el.querySelector("input");
      if (input) { input.disabled = Boolean(chosen) && !(sev in map); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    rememberZone();
    start();
    document.querySelectorAll('input[name="playbook"]').forEach(function (el) {
      el.addEventListener("change", meanings);
    });
    if (document.querySelector(".sev-choice")) { meanings(); }
    if (document.querySelector("article.update")) { setInterval(progress, 3000); }
    var every = Number((document.getElementById("main") || {}).getAttribute
      ? document.getElementById("main").getAttribute("data-refresh") : 0);
    if (every > 0 && document.querySelector("[data-live]")) { setInterval(refresh, every * 1000); }
  });
}());
