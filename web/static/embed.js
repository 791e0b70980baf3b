/* crisiscomms status banner for your own site (issue 17).
 *
 *   <script src="https://status.example.org/status/embed.js" async></script>
 *
 * While an incident is open on the status page, a banner at the bottom of the page (or the
 * top: data-position="top") names it, links to it and quotes its latest update; it goes away
 * when the incident is resolved, and a visitor can dismiss it until the next update. It reads
 * the page's Statuspage-compatible summary (CORS), checks again every minute, sends no cookie
 * and writes only text (never HTML) into your page.
 */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !window.fetch) { return; }
  var base = me.src.replace(/\/status\/embed\.js([?#].*)?$/, "");
  var top = me.getAttribute("data-position") === "top";
  var every = 60000;
  var bar = null;
  var KEY = "crisiscomms-dismissed";

  function dismissed(mark) {
    try { return window.sessionStorage.getItem(KEY) === mark; } catch (e) { return false; }
  }
  function remember(mark) {
    try { window.sessionStorage.setItem(KEY, mark); } catch (e) { /* private mode */ }
  }
  function clear() {
    if (bar && bar.parentNode) { bar.parentNode.removeChild(bar); }
    bar = null;
  }
  function colour(impact) {
    return impact === "critical" ? "#b42318" : impact === "major" ? "#b93e0b" : "#8a5a00";
  }
  function show(inc) {
    var latest = (inc.incident_updates || [])[0] || {};
    var mark = inc.id + "@" + (inc.updated_at || "");
    if (dismissed(mark)) { clear(); return; }
    clear();
    bar = document.createElement("div");
    bar.setAttribute("role", "status");
    bar.setAttribute("data-crisiscomms", "banner");
    bar.style.cssText = "position:fixed;left:0;right:0;" + (top ? "top" : "bottom") +
      ":0;z-index:2147483647;margin:0;padding:12px 56px 12px 16px;color:#fff;" +
      "font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;text-align:left;" +
      "box-shadow:0 0 10px rgba(0,0,0,.35);background:" + colour(inc.impact);
    var what = document.createElement("strong");
    what.textContent = inc.name;
    var link = document.createElement("a");
    link.href = inc.shortlink || base + "/status";
    link.textContent = "Details";
    link.style.cssText = "color:#fff;text-decoration:underline;margin-left:.5em";
    bar.appendChild(what);
    if (latest.body) {
      var said = latest.body.length > 180 ? latest.body.slice(0, 177) + "…" : latest.body;
      bar.appendChild(document.createTextNode(" — " + said));
    }
    bar.appendChild(link);
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss this notice");
    close.textContent = "×";
    close.style.cssText = "position:absolute;right:6px;top:50%;transform:translateY(-50%);" +
      "width:44px;height:44px;border:0;background:transparent;color:#fff;font-size:24px;" +
      "cursor:pointer";
    close.onclick = function () { remember(mark); clear(); };
    bar.appendChild(close);
    document.body.appendChild(bar);
  }
  function check() {
    window.fetch(base + "/api/v2/summary.json", {credentials: "omit", cache: "no-cache"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        var open = ((s && s.incidents) || []).slice();
        var rank = {critical: 0, major: 1, minor: 2};
        open.sort(function (a, b) {  // the worst first
          return (a.impact in rank ? rank[a.impact] : 3) - (b.impact in rank ? rank[b.impact] : 3);
        });
        if (open.length) { show(open[0]); } else { clear(); }
      })
      .catch(function () { /* the status page is unreachable: say nothing */ });
  }
  function start() { check(); window.setInterval(check, every); }
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
