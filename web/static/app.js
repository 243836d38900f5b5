"use strict";
// The dashboard: mirrors the appliance through /api/events and acts through the JSON API.
let source = null;
let retryTimer = null;
function connect() {
  if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  if (source) source.close();
  const es = source = new EventSource("/api/events");
  // Live from the first snapshot on, not from "open": a server on its way down still opens
  // the stream, then ends it at once.
  es.addEventListener("status", (ev) => { heard(); setLink(true); showStatus(JSON.parse(ev.data)); });
  es.addEventListener("led", (ev) => { heard(); $("vpanel").hidden = false; showLed(JSON.parse(ev.data)); });
  es.addEventListener("error", () => {
    if (es !== source) return;
    setLink(false);
    // The browser retries by itself after a lost line. A refusal (401, 503) closes the
    // stream for good and does not say which it was: a 401 goes to the login, else retry.
    if (es.readyState === EventSource.CLOSED) {
      checkSession().then((r) => {
        if (r !== "login" && es === source && !retryTimer) retryTimer = setTimeout(connect, 2000);
      });
    }
  });
}
// The connection to the dashcam: "live", or "lost" (every tab shows it at once: the picture
// is marked frozen, the clock stops, the controls are off and say why; live.js).
function setLink(live) {
  const state = live ? "live" : "lost";
  if (document.documentElement.dataset.link === state) return;
  document.documentElement.dataset.link = state;
  $("link").dataset.live = String(live);
  $("link").textContent = live ? "live" : "reconnecting…";
  emit("dashcam:link", { live });
}
// A line can go quiet without ever failing (the phone walked out of the car's Wi-Fi: no
// reset arrives, the stream just stops). The stream is quiet while nothing changes, so
// after QUIET_MS without an event the page asks for the status: no answer within ASK_MS is
// a lost connection (and a new stream); an answer newer than the stream's last snapshot is
// a stream that stalled (a new stream too).
const QUIET_MS = 4000, ASK_MS = 2500;
let lastHeard = performance.now();
let asking = false;
function heard() { lastHeard = performance.now(); }
async function askIfQuiet() {
  if (asking || document.hidden || document.documentElement.dataset.link !== "live"
      || performance.now() - lastHeard < QUIET_MS) return;
  asking = true;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ASK_MS);
  let fresh = null;
  try {
    const r = await fetch("/api/status", { cache: "no-store", signal: stop.signal });
    if (r.status === 401) { toLogin(); return; }
    if (r.ok) fresh = await r.json();
  } catch (e) { fresh = null; } finally { clearTimeout(timer); asking = false; }
  if (!fresh) { setLink(false); connect(); return; }
  heard();
  if (!status || fresh.version > status.version) { showStatus(fresh); connect(); }
}
setInterval(askIfQuiet, 1000);
// Reconnect at once when the phone wakes up or the page comes back into view.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && (!source || source.readyState === EventSource.CLOSED)) connect();
});

// ---------- tabs ----------
function showTab() {
  const name = (location.hash || "#live").slice(1);
  const tab = ["live", "gallery", "settings"].includes(name) ? name : "live";
  for (const t of ["live", "gallery", "settings"]) $(`tab-${t}`).hidden = t !== tab;
  for (const a of document.querySelectorAll(".tabs a")) {
    if (a.dataset.tab === tab) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (tab === "gallery" && galleryStale) reloadGallery();
  if (tab === "settings") {
    loadSettings().catch((e) => { $("settings-msg").textContent = e.message; });
    loadSession().catch(() => {});
  }
  updateLiveView();  // the live view streams only while its tab is shown
}
window.addEventListener("hashchange", showTab);

// The first snapshot, unless the event stream was quicker (never show an older one after it).
api("GET", "/api/status").then((s) => { if (!status) showStatus(s); }).catch(() => {});
api("GET", "/api/panel").then((p) => {
  $("vpanel").hidden = false;
  $("vbtn-bump").hidden = !p.bump;
  showLed(p.led);
}).catch(() => {});
$("vbtn-bump").addEventListener("click", () => command("/api/panel/bump"));
connect();
showTab();
