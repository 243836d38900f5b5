"use strict";
// The dashboard: mirrors the appliance through /api/events and acts through the JSON API.
const $ = (id) => document.getElementById(id);
let status = null;       // the newest status snapshot
let statusAt = 0;        // performance.now() when it arrived
let kindFilter = "";
let dayFilter = "";
let nextBefore = null;   // gallery cursor
let loading = false;
let current = null;      // the item open in the player
let galleryStale = true;

// ---------- helpers ----------
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) { location.href = "/login"; throw new Error("log in first"); }
  let data = null;
  if (r.status !== 204) { try { data = await r.json(); } catch (e) { data = null; } }
  if (!r.ok) throw new Error((data && (data.description || data.title)) || r.statusText);
  return data;
}
function bytes(n) {
  if (n == null) return "—";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${u[i]}`;
}
function clock(s) {
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60), r = s % 60;
  return `${m}:${String(r).padStart(2, "0")}`;
}
function stampText(stamp) {  // YYYYMMDD-HHMMSS -> HH:MM:SS
  return `${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}`;
}

// ---------- live state ----------
const STATE_TEXT = { starting: "Starting", idle: "Idle", recording: "Recording",
  storage_full: "Card full", error: "Error", shutting_down: "Shutting down", off: "Off" };

function showStatus(s) {
  const before = status;
  status = s; statusAt = performance.now();
  const pill = $("state");
  pill.dataset.state = s.state;
  pill.textContent = STATE_TEXT[s.state] || s.state;
  const rec = s.state === "recording" || s.state === "storage_full";
  $("record").setAttribute("aria-pressed", String(rec));
  $("record").setAttribute("aria-label", rec ? "Stop recording" : "Start recording");
  $("record-label").textContent = rec ? "Recording" : "Stopped";
  const st = s.storage;
  const used = st.total - st.free;
  const other = Math.max(0, used - st.loop - st.protected - st.photos);
  const pct = (v) => `${(100 * v / Math.max(1, st.total)).toFixed(2)}%`;
  $("bar-loop").style.width = pct(st.loop);
  $("bar-other").style.width = pct(other);
  $("lg-other").textContent = bytes(other);
  $("bar-protected").style.width = pct(st.protected);
  $("bar-photos").style.width = pct(st.photos);
  $("bar-free").style.width = pct(st.free);
  $("lg-loop").textContent = bytes(st.loop);
  $("lg-protected").textContent = bytes(st.protected);
  $("lg-photos").textContent = bytes(st.photos);
  $("lg-free").textContent = bytes(st.free);
  $("storage-text").textContent = `${bytes(st.free)} free of ${bytes(st.total)}`;
  const err = $("error");
  err.hidden = !s.last_error;
  err.textContent = s.last_error || "";
  tick();
  showClock();
  if (before && (before.counts.loop !== s.counts.loop || before.counts.protected !== s.counts.protected
      || before.counts.photo !== s.counts.photo || before.last_still !== s.last_still)) {
    galleryStale = true;
    if (!$("tab-gallery").hidden) reloadGallery();
  }
}

function tick() {
  if (!status) return;
  const e = $("elapsed");
  if (status.segment && status.segment_elapsed_s != null) {
    const s = status.segment_elapsed_s + (performance.now() - statusAt) / 1000;
    e.textContent = `segment ${status.segment} · ${clock(s)}`;
  } else {
    e.textContent = "not recording";
  }
}
setInterval(tick, 250);

function showClock() {
  if (!status) return;
  const drift = (Date.now() - status.clock_ms - (performance.now() - statusAt)) / 1000;
  const when = new Date(status.clock_ms).toLocaleString();
  $("clock-text").textContent = drift > 2 ? `behind by ${Math.round(drift)} s` : when;
  $("clock-sync").disabled = !(drift > 2);
}

function showLed(led) {
  const v = led.value;
  const el = $("led");
  el.style.background = v > 0.02 ? `rgba(255, 40, 40, ${0.25 + 0.75 * v})` : "#3a1214";
  el.style.boxShadow = v > 0.02 ? `0 0 ${Math.round(16 * v)}px rgba(255, 40, 40, ${v})` : "none";
  el.dataset.lit = String(v > 0.02);
  $("led-pattern").textContent = led.pattern;
}

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

// ---------- commands ----------
async function command(path, body) {
  try { await api("POST", path, body); } catch (e) { alert(e.message); }
}
$("record").addEventListener("click", () => {
  const rec = status && (status.state === "recording" || status.state === "storage_full");
  command(rec ? "/api/recording/stop" : "/api/recording/start");
});
$("photo").addEventListener("click", () => command("/api/photos"));
$("protect").addEventListener("click", () => command("/api/incidents"));
for (const b of document.querySelectorAll(".vbtn[data-button]")) {
  let down = 0;
  const start = (ev) => { ev.preventDefault(); down = performance.now(); };
  const end = (ev) => {
    ev.preventDefault();
    if (!down) return;
    const held = (performance.now() - down) / 1000;
    down = 0;
    command(`/api/panel/buttons/${b.dataset.button}`, held > 0.8 ? { hold_s: Math.min(held, 10) } : undefined);
  };
  b.addEventListener("pointerdown", start);
  b.addEventListener("pointerup", end);
  b.addEventListener("pointerleave", () => { down = 0; });
}

// ---------- preview ----------
function setPreview(on) {
  const img = $("preview");
  $("preview-toggle").setAttribute("aria-pressed", String(on));
  $("preview-box").hidden = !on;
  $("preview-note").textContent = "";
  if (on) img.src = `/api/preview.mjpeg?t=${Date.now()}`;
  else img.removeAttribute("src");  // closes the stream: the camera stops making previews
}
$("preview-toggle").addEventListener("click", () => {
  setPreview($("preview-toggle").getAttribute("aria-pressed") !== "true");
});
$("preview").addEventListener("error", () => {
  if ($("preview-toggle").getAttribute("aria-pressed") !== "true") return;
  $("preview-note").textContent = "Preview busy or lost; retrying…";
  setTimeout(() => { if ($("preview-toggle").getAttribute("aria-pressed") === "true") setPreview(true); }, 5000);
});
document.addEventListener("visibilitychange", () => {
  if (document.hidden && $("preview-toggle").getAttribute("aria-pressed") === "true") setPreview(false);
});

// ---------- gallery ----------
function reloadGallery() {
  galleryStale = false;
  nextBefore = null;
  $("gallery").textContent = "";
  loadDays();
  loadMore(true);
}
async function loadDays() {
  const data = await api("GET", "/api/days");
  const sel = $("day");
  const keep = sel.value;
  sel.length = 1;
  for (const d of data.days) sel.add(new Option(d, d));
  sel.value = data.days.includes(keep) ? keep : "";
}
async function loadMore(first) {
  if (loading || (!first && nextBefore === null)) return;
  loading = true;
  const q = new URLSearchParams({ limit: "30" });
  if (kindFilter) q.append("kind", kindFilter);
  if (dayFilter) q.set("day", dayFilter);
  if (!first && nextBefore !== null) q.set("before", String(nextBefore));
  try {
    const page = await api("GET", `/api/items?${q}`);
    for (const item of page.items) addTile(item);
    nextBefore = page.next_before;
    $("more").textContent = nextBefore === null
      ? ($("gallery").children.length ? "That is all." : "Nothing here yet.") : "Loading more…";
  } finally { loading = false; }
}
function addTile(item) {
  const gallery = $("gallery");
  let group = gallery.lastElementChild;
  if (!group || group.dataset.day !== item.day) {
    group = document.createElement("div");
    group.dataset.day = item.day;
    const h = document.createElement("div");
    h.className = "day"; h.textContent = item.day;
    const grid = document.createElement("div");
    grid.className = "grid";
    group.append(h, grid);
    gallery.append(group);
  }
  const tile = document.createElement("button");
  tile.type = "button"; tile.className = "tile"; tile.dataset.kind = item.kind;
  tile.dataset.id = item.id;
  if (item.thumb_url) {
    const img = document.createElement("img");
    img.loading = "lazy"; img.decoding = "async"; img.alt = item.name; img.src = item.thumb_url;
    tile.append(img);
  }
  const tag = document.createElement("span");
  tag.className = "tag";
  // Plain text, not emoji: the label must show whatever fonts the phone has.
  tag.textContent = `${item.kind === "photo" ? "photo" : item.kind === "protected" ? "protected" : "▶"} ${stampText(item.stamp)}`;
  tile.append(tag);
  tile.addEventListener("click", () => openItem(item));
  group.lastElementChild.append(tile);
}
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && !$("tab-gallery").hidden) loadMore(false);
}, { rootMargin: "400px" }).observe($("more"));
for (const chip of document.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => {
    kindFilter = chip.dataset.kind;
    for (const c of document.querySelectorAll(".chip")) c.setAttribute("aria-pressed", String(c === chip));
    reloadGallery();
  });
}
$("day").addEventListener("change", () => { dayFilter = $("day").value; reloadGallery(); });

// ---------- player ----------
function openItem(item) {
  current = item;
  $("player-title").textContent = `${item.day} ${stampText(item.stamp)} · ${item.kind} · ${bytes(item.size)}`;
  const video = $("video"), still = $("still");
  video.hidden = !item.video; still.hidden = item.video;
  if (item.video) { video.src = item.url; } else { still.src = item.url; }
  $("download").href = item.download_url;
  $("item-protect").hidden = item.kind === "photo";
  $("item-protect").textContent = item.kind === "protected" ? "Unprotect" : "Protect";
  $("player").showModal();
}
function closePlayer() {
  const video = $("video");
  video.pause(); video.removeAttribute("src"); video.load();
  $("player").close();
}
$("player-close").addEventListener("click", closePlayer);
$("player").addEventListener("cancel", (ev) => { ev.preventDefault(); closePlayer(); });
$("item-delete").addEventListener("click", async () => {
  if (!current || !confirm(`Delete ${current.name}? This cannot be undone.`)) return;
  try { await api("DELETE", `/api/items/${current.id}`); closePlayer(); reloadGallery(); }
  catch (e) { alert(e.message); }
});
$("item-protect").addEventListener("click", async () => {
  if (!current) return;
  try {
    const item = await api(current.kind === "protected" ? "DELETE" : "PUT", `/api/items/${current.id}/protection`);
    closePlayer(); reloadGallery(); current = item;
  } catch (e) { alert(e.message); }
});

// ---------- settings and system ----------
const MIB = 1024 * 1024;
async function loadSettings() {
  const data = await api("GET", "/api/settings");
  const s = data.settings, f = $("settings").elements;
  f.segment_seconds.value = s.segment_seconds;
  const q = f.video_bitrate;
  if (![...q.options].some((o) => Number(o.value) === s.video_bitrate)) q.add(new Option(`${s.video_bitrate} bit/s`, s.video_bitrate));
  q.value = String(s.video_bitrate);
  f.min_free_mib.value = Math.round(s.min_free_bytes / MIB);
  f.min_free_percent.value = s.min_free_percent;
  f.led_brightness.value = s.led_brightness;
  f.autostart.checked = s.autostart;
}
$("settings").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = {
    segment_seconds: Number(f.segment_seconds.value),
    video_bitrate: Number(f.video_bitrate.value),
    min_free_bytes: Math.round(Number(f.min_free_mib.value) * MIB),
    min_free_percent: Number(f.min_free_percent.value),
    led_brightness: Number(f.led_brightness.value),
    autostart: f.autostart.checked,
  };
  const msg = $("settings-msg");
  try {
    const r = await api("PUT", "/api/settings", body);
    msg.textContent = r.restart_needed.length
      ? `Saved. Applies after a restart: ${r.restart_needed.join(", ")}.` : "Saved and applied.";
  } catch (e) { msg.textContent = `Not saved: ${e.message}`; }
});
$("clock-sync").addEventListener("click", async () => {
  try {
    const r = await api("POST", "/api/system/clock", { epoch_ms: Date.now() });
    $("system-msg").textContent = r.changed ? "Clock set from this phone." : "The clock was already right.";
  } catch (e) { $("system-msg").textContent = e.message; }
});
for (const [id, text] of [["restart", "Restart the dashcam? Recording stops for a minute."],
                          ["shutdown", "Shut the dashcam down? It records nothing until powered on again."]]) {
  $(id).addEventListener("click", async () => {
    if (!confirm(text)) return;
    try { await api("POST", `/api/system/${id}`); $("system-msg").textContent = "The open clip is being closed…"; }
    catch (e) { $("system-msg").textContent = e.message; }
  });
}

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
  if (tab !== "live" && $("preview-toggle").getAttribute("aria-pressed") === "true") setPreview(false);
}
window.addEventListener("hashchange", showTab);

api("GET", "/api/status").then(showStatus).catch(() => {});
api("GET", "/api/panel").then((p) => {
  $("vpanel").hidden = false;
  $("vbtn-bump").hidden = !p.bump;
  showLed(p.led);
}).catch(() => {});
$("vbtn-bump").addEventListener("click", () => command("/api/panel/bump"));
connect();
showTab();
