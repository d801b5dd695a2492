// Live updates: one websocket per live region, HTML fragments swapped in by id.
// Reconnects with the last seq it saw, so the server replays exactly the events it missed.
(function () {
  "use strict";
  const status = () => document.getElementById("live-status");

  // A row of the paged table updates in place: it keeps its tick and its place. When what places it in this view
  // changed (its status under a status filter, its tokens under a sort by tokens...), the page counts it and offers
  // a refresh instead of moving rows under the reader's eyes.
  function replaceRow(existing, el) {
    const pick = existing.querySelector("input[name=ids]");
    const fresh = el.querySelector("input[name=ids]");
    if (pick && fresh) fresh.checked = pick.checked;
    const table = existing.closest("table[data-watch]");
    const watched = table ? table.dataset.watch.split(" ").filter(Boolean) : [];
    if (watched.some((key) => existing.dataset[key] !== el.dataset[key]) || existing.classList.contains("moved")) {
      el.classList.add("moved");
      table._moved = table._moved || new Set();
      table._moved.add(el.id);
      const hint = document.getElementById("fleet-moved");
      if (hint) {
        hint.querySelector(".n").textContent = String(table._moved.size);
        hint.hidden = false;
      }
    }
    existing.replaceWith(el);
  }

  // A person's click or typing is never lost to a frame: an element being pressed (between the pointer's down and
  // up, a click would land on the element replaced meanwhile and do nothing), or holding the focus of a field being
  // typed in, keeps its place; its newest version is swapped in once the pointer is released or the focus leaves.
  const deferred = new Map(); // element id -> the newest fragment for it
  let pressed = null;
  const TYPING = "textarea, select, [contenteditable], input:not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button])";

  function busy(existing) {
    if (pressed && existing.contains(pressed)) return true;
    const active = document.activeElement;
    if (active && existing.contains(active) && active.matches(TYPING)) return true;
    // inside an element held back: its own fragment waits too, or the parent's older copy would overwrite it
    for (let up = existing.parentElement; up; up = up.parentElement) if (up.id && deferred.has(up.id)) return true;
    return false;
  }

  function forget(el) {
    // a fragment supersedes what was held before it for itself or for anything inside it
    deferred.delete(el.id);
    for (const inner of el.querySelectorAll("[id]")) deferred.delete(inner.id);
  }

  function hold(el) {
    forget(el);
    deferred.set(el.id, el); // (re-)inserted last: the flush goes in order of arrival, parents before newer children
  }

  function swap(existing, el) {
    if (el.tagName === "TR") replaceRow(existing, el);
    else existing.replaceWith(el);
    if (window.htmx && el.isConnected && !el.closest("[hx-disable]")) window.htmx.process(el);
  }

  function flush() {
    for (const [id, el] of Array.from(deferred)) {
      const existing = document.getElementById(id);
      if (existing && busy(existing)) continue;
      deferred.delete(id);
      if (existing) swap(existing, el);
    }
  }

  // after the click the release makes (dispatched right after pointerup): it lands on what the person pressed
  const released = () => { pressed = null; setTimeout(flush, 0); };
  document.addEventListener("pointerdown", (ev) => {
    // the main button only: a right click's menu may take the release, which would then never come
    if (ev.isPrimary && ev.button === 0) pressed = ev.target;
  }, true);
  document.addEventListener("pointerup", released, true);
  document.addEventListener("pointercancel", released, true);
  document.addEventListener("contextmenu", released, true);
  window.addEventListener("blur", released);
  document.addEventListener("visibilitychange", released);
  document.addEventListener("focusout", () => setTimeout(flush, 0), true);

  function apply(html, region) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    for (const el of Array.from(tpl.content.children)) {
      const existing = el.id && document.getElementById(el.id);
      if (existing) {
        if (busy(existing)) hold(el);
        else {
          forget(el);
          swap(existing, el);
        }
        continue;
      }
      if (el.classList.contains("event") && region.id === "transcript") {
        region.appendChild(el);
      } else if (el.id && el.id.endsWith("-card") && el.tagName !== "TR") {
        // a new card joins the cards; a table row not on this page is not shown (the table is paged)
        const host = region.querySelector(".cards") || region;
        host.appendChild(el);
      }
      if (window.htmx && el.isConnected && !el.closest("[hx-disable]")) window.htmx.process(el);
    }
  }

  function connect(region, attempt) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const after = region.dataset.lastSeq || "0";
    let url = proto + "//" + location.host + region.dataset.ws + "?after=" + after;
    if (region.querySelector(".fleet-table")) {
      // the paged table: the server sends the rows on this page as they are now, not the whole fleet's
      const ids = Array.from(region.querySelectorAll("tr[id$='-card']"), (tr) => tr.id.split("-")[1]);
      url += "&rows=" + ids.join(",");
    }
    const ws = new WebSocket(url);
    let stale = null;
    ws.onopen = () => {
      attempt = 0;
      status().hidden = true;
      document.body.classList.remove("stale");
      region.dataset.connected = "1";
    };
    ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.seq !== null && data.seq !== undefined) {
        if (data.seq <= Number(region.dataset.lastSeq || 0)) return; // already shown
        region.dataset.lastSeq = String(data.seq);
      }
      const follow = region.scrollHeight - region.scrollTop - region.clientHeight < 40;
      apply(data.html, region);
      if (follow && region.id === "transcript") region.scrollTop = region.scrollHeight;
    };
    ws.onclose = (ev) => {
      region.dataset.connected = "0";
      if (!region.isConnected || region._closing) return; // the page moved on: nothing to reconnect
      if (ev.code === 4403 || ev.code === 4404) {
        status().textContent = "Live updates unavailable: you may not watch this.";
        status().hidden = false;
        return; // fatal: do not retry
      }
      const crowded = ev.code === 4429; // this account has too many live connections open (other tabs)
      status().textContent = crowded
        ? "Too many live views open for your account: close some tabs. Trying again in 30 s…"
        : "Reconnecting… live updates paused";
      status().hidden = false;
      stale = setTimeout(() => document.body.classList.add("stale"), 5000);
      // capped at 5 s: after a Redis or server outage every page is live again within seconds of its return
      const wait = crowded ? 30000 : Math.min(5000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      setTimeout(() => {
        clearTimeout(stale);
        if (region.isConnected) connect(region, attempt + 1);
      }, wait);
    };
    region._ws = ws;
  }

  function confirmations(ev) {
    const btn = ev.submitter;
    const msg = btn && btn.dataset.confirm;
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
      ev.stopPropagation(); // before htmx's boosted submit sees it
    }
  }

  // Pages are swapped in by hx-boost: connect the live regions each new page brings, close the old ones.
  function connectWithin(root) {
    if (!(root instanceof Element)) return;
    const regions = root.matches("[data-ws]") ? [root] : [];
    regions.push(...root.querySelectorAll("[data-ws]"));
    regions.forEach((region) => { if (!region._ws) connect(region, 0); });
  }

  function closeAll() {
    deferred.clear();
    pressed = null;
    document.querySelectorAll("[data-ws]").forEach((region) => {
      if (region._ws) { region._closing = true; region._ws.close(); }
    });
    status().hidden = true;
    document.body.classList.remove("stale");
  }

  document.addEventListener("submit", confirmations, true);
  document.addEventListener("htmx:load", (ev) => connectWithin(ev.detail.elt));
  document.addEventListener("htmx:beforeSwap", (ev) => { if (ev.detail.target === document.body) closeAll(); });
  document.addEventListener("DOMContentLoaded", () => connectWithin(document.body));
})();
