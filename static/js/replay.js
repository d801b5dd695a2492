// Replay a run that is not working now (finished, awaiting review, paused) on its agent page: the transcript's events shown again one by one, in their own rhythm
// (the gaps between their times) sped up 1x, 4x or 16x; a gap longer than MAX_GAP seconds of replay is cut to it.
// Pause holds the replay where it is and resume goes on from there at its speed; the slider jumps to any event and
// shows exactly the events up to it ("event k of n" and that event's time beside it). Everything is already on the
// page (the event log, rendered by the server): this only hides and shows it, and writes its own words as text.
(function () {
  "use strict";
  var MAX_GAP = 2.0;

  function parts(panel) {
    return {
      status: panel.querySelector("[data-replay-status]"),
      pause: panel.querySelector("[data-replay-pause]"),
      seek: panel.querySelector("[data-replay-seek]"),
      position: panel.querySelector("[data-replay-position]"),
    };
  }

  // The run's events as the page has them now. An event that arrives live while a replay is under way (a verdict
  // after a stop) joins its end, hidden until the replay gets there (as is one the live stream swaps in again).
  function load(panel) {
    var list = document.getElementById("transcript");
    var r = panel._replay || (panel._replay = { shown: 0, speed: 1, timer: null });
    r.events = list ? Array.prototype.slice.call(list.querySelectorAll("li.event[data-seq]")) : [];
    r.shown = Math.min(r.shown, r.events.length);
    if (list && !list._replayWatched) {
      list._replayWatched = true;
      new MutationObserver(function () { joined(panel); }).observe(list, { childList: true });
    }
    return r;
  }

  function joined(panel) {
    var state = panel.dataset.state;
    if (state !== "playing" && state !== "paused") return;
    var r = load(panel);
    showUpTo(r, r.shown);
    setState(panel, state);
  }

  function timeOf(li) {
    var t = li && li.querySelector("time[datetime]");
    return t ? Date.parse(t.getAttribute("datetime")) : NaN;
  }

  function clockOf(li) {
    var t = li && li.querySelector("time[datetime]");
    return t ? t.textContent.trim() : "";
  }

  function setState(panel, state) {
    var r = panel._replay, p = parts(panel), n = r.events.length;
    panel.dataset.state = state;
    p.pause.disabled = state !== "playing" && state !== "paused";
    p.pause.textContent = state === "paused" ? "resume" : "pause";
    p.seek.max = String(Math.max(n, 1));
    p.seek.value = String(r.shown);
    var clock = clockOf(r.events[r.shown - 1]);
    p.position.textContent = "event " + r.shown + " of " + n + (clock ? " · " + clock : "");
    p.seek.setAttribute("aria-valuetext", p.position.textContent);
    if (state === "playing") p.status.textContent = "Replaying at " + r.speed + "×: event " + r.shown + " of " + n + ".";
    else if (state === "paused") p.status.textContent = "Paused at event " + r.shown + " of " + n + ".";
    else if (state === "done") p.status.textContent = "Replayed all " + n + " events at " + r.speed + "×.";
    else if (state === "stopped") p.status.textContent = "Showing every event.";
  }

  function halt(panel) {
    var r = panel._replay;
    if (r && r.timer) window.clearTimeout(r.timer);
    if (r) r.timer = null;
  }

  // Show the first k events and hide the rest.
  function showUpTo(r, k) {
    r.events.forEach(function (li, i) { li.hidden = i >= k; });
    r.shown = k;
  }

  // Show the next event, then wait the (sped up) gap to the one after it.
  function step(panel) {
    var r = panel._replay;
    if (r.shown >= r.events.length) {
      r.timer = null;
      setState(panel, "done");
      return;
    }
    var li = r.events[r.shown];
    li.hidden = false;
    li.scrollIntoView({ block: "nearest" });
    r.shown += 1;
    setState(panel, "playing");
    var gap = r.shown < r.events.length ? (timeOf(r.events[r.shown]) - timeOf(li)) / 1000 / r.speed : 0;
    gap = isFinite(gap) && gap > 0 ? Math.min(gap, MAX_GAP) : 0;
    r.timer = window.setTimeout(function () { step(panel); }, gap * 1000);
  }

  // A speed chosen mid-replay (playing or paused) goes on from where the replay is; otherwise it starts again.
  function start(panel, speed) {
    var midway = panel.dataset.state === "playing" || panel.dataset.state === "paused";
    halt(panel);
    var r = load(panel);
    r.speed = speed;
    if (!midway) showUpTo(r, 0);
    step(panel);
  }

  function pauseOrResume(panel) {
    load(panel);
    if (panel.dataset.state === "playing") {
      halt(panel);
      setState(panel, "paused");
    } else if (panel.dataset.state === "paused") {
      step(panel);
    }
  }

  function seek(panel, k) {
    var playing = panel.dataset.state === "playing";
    halt(panel);
    var r = load(panel);
    showUpTo(r, Math.min(Math.max(k, 1), r.events.length));
    var li = r.events[r.shown - 1];
    if (li) li.scrollIntoView({ block: "nearest" });
    if (playing) {
      // go on from there at the same speed, after the gap to the next event
      var gap = (timeOf(r.events[r.shown]) - timeOf(li)) / 1000 / r.speed;
      gap = isFinite(gap) && gap > 0 ? Math.min(gap, MAX_GAP) : 0;
      setState(panel, "playing");
      r.timer = window.setTimeout(function () { step(panel); }, gap * 1000);
    } else {
      setState(panel, "paused");
    }
  }

  function showAll(panel) {
    halt(panel);
    var r = load(panel);
    showUpTo(r, r.events.length);
    setState(panel, "stopped");
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-replay-speed], [data-replay-stop], [data-replay-pause]");
    var panel = button && button.closest("[data-replay]");
    if (!panel) return;
    if (button.hasAttribute("data-replay-stop")) showAll(panel);
    else if (button.hasAttribute("data-replay-pause")) pauseOrResume(panel);
    else start(panel, Number(button.getAttribute("data-replay-speed")));
  });

  document.addEventListener("input", function (e) {
    var slider = e.target.closest("[data-replay-seek]");
    var panel = slider && slider.closest("[data-replay]");
    if (panel) seek(panel, Number(slider.value));
  });
})();
