"use strict";
// The dashboard: mirrors the appliance through /api/events and acts through the JSON API.
let source = null;
let retryTimer = null;
function connect() {
  if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  if (source) source.close();
  source = new EventSource("/api/events");
  source.addEventListener("open", () => { setLink(true); });
  source.addEventListener("status", (ev) => { setLink(true); showStatus(JSON.parse(ev.data)); });
  source.addEventListener("led", (ev) => { $("vpanel").hidden = false; showLed(JSON.parse(ev.data)); });
  source.addEventListener("error", () => {
    setLink(false);
    // The browser retries by itself unless the stream was refused (503) or closed for good.
    if (source.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 2000);
  });
}
function setLink(live) {
  $("link").dataset.live = String(live);
  $("link").textContent = live ? "live" : "reconnecting…";
}
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
  if (tab === "settings") loadSettings().catch((e) => { $("settings-msg").textContent = e.message; });
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
