// Replay a finished run on its agent page: the transcript's events shown again one by one, in their own rhythm
// (the gaps between their times) sped up 1x, 4x or 16x; a gap longer than MAX_GAP seconds of replay is cut to it.
// Everything is already on the page (the event log, rendered by the server): this only hides and shows it.
(function () {
  "use strict";
  var MAX_GAP = 2.0;

  function start(panel, speed) {
    stop(panel);
    var list = document.getElementById("transcript");
    if (!list) return;
    var events = Array.prototype.slice.call(list.querySelectorAll("li.event[data-seq]"));
    var times = events.map(function (li) {
      var t = li.querySelector("time[datetime]");
      return t ? Date.parse(t.getAttribute("datetime")) : NaN;
    });
    events.forEach(function (li) { li.hidden = true; });
    var status = panel.querySelector("[data-replay-status]");
    var i = 0;
    function next() {
      if (i >= events.length) {
        status.textContent = "Replayed all " + events.length + " events at " + speed + "×.";
        panel.dataset.state = "done";
        return;
      }
      events[i].hidden = false;
      events[i].scrollIntoView({block: "nearest"});
      i += 1;
      status.textContent = "Replaying at " + speed + "×: event " + i + " of " + events.length + ".";
      var gap = i < events.length ? (times[i] - times[i - 1]) / 1000 / speed : 0;
      gap = isFinite(gap) && gap > 0 ? Math.min(gap, MAX_GAP) : 0;
      panel._timer = window.setTimeout(next, gap * 1000);
    }
    panel.dataset.state = "playing";
    next();
  }

  function stop(panel) {
    if (panel._timer) window.clearTimeout(panel._timer);
    panel._timer = null;
    var list = document.getElementById("transcript");
    if (list) list.querySelectorAll("li.event[hidden]").forEach(function (li) { li.hidden = false; });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-replay-speed], [data-replay-stop]");
    if (!button) return;
    var panel = button.closest("[data-replay]");
    if (!panel) return;
    if (button.hasAttribute("data-replay-stop")) {
      stop(panel);
      panel.dataset.state = "stopped";
      panel.querySelector("[data-replay-status]").textContent = "Showing every event.";
    } else {
      start(panel, Number(button.getAttribute("data-replay-speed")));
    }
  });
})();
