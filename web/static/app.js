// Live timeline: append events from the server-sent event stream. Text only: never HTML.
(function () {
  "use strict";
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
      t.textContent = (e.at || "").slice(11, 19) + "Z";
      var b = document.createElement("b");
      b.textContent = e.type;
      var who = document.createElement("span");
      who.className = "muted";
      who.textContent = " " + e.actor + " ";
      var data = document.createElement("span");
      data.className = "data";
      data.textContent = Object.keys(e.data).filter(function (k) { return k !== "version"; })
        .map(function (k) { return k + "=" + JSON.stringify(e.data[k]); }).join(" ");
      li.append(t, b, who, data);
      list.appendChild(li);
    });
  }
  document.addEventListener("DOMContentLoaded", start);
}());
