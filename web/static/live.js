"use strict";
// The Live tab: the live view, the clock, the controls and their feedback, storage, LED.
// ---------- live state ----------
// What the top bar says on every tab; not recording is said in words and in colour.
const STATE_TEXT = { starting: "Starting…", idle: "Not recording", recording: "Recording",
  storage_full: "Card full · not recording", error: "Error · not recording",
  shutting_down: "Shutting down", off: "Off · not recording",
  parked: "Parked · watching", parked_event: "Parked · recording an event" };
const isRec = (s) => !!s && (s.state === "recording" || s.state === "storage_full");

function showStatus(s) {
  const before = status;
  status = s; statusAt = performance.now();
  const pill = $("state");
  pill.dataset.state = s.state;
  pill.textContent = STATE_TEXT[s.state] || s.state;
  const rec = isRec(s);
  $("record").setAttribute("aria-pressed", String(rec));
  $("record").setAttribute("aria-label", rec ? "Stop recording" : "Start recording");
  $("record-label").textContent = rec ? "Stop" : "Record";
  $("rec-chip").dataset.rec = String(rec);
  document.documentElement.dataset.recording = String(s.recording);
  document.title = `${rec ? "● REC" : STATE_TEXT[s.state] || s.state} · dashcam`;
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
  noticeFeedback(before, s);
  emit("dashcam:status", s);
  if (before && (before.counts.loop !== s.counts.loop || before.counts.protected !== s.counts.protected
      || before.counts.photo !== s.counts.photo || before.last_still !== s.last_still)) {
    galleryStale = true;
    if (!$("tab-gallery").hidden) reloadGallery();
  }
}

function tick() {  // the clock and the clip's elapsed time over the live view
  if (!status || linkLost()) return;  // lost: both stay as they were, marked stopped
  const since = performance.now() - statusAt;
  if (status.clock_ms) $("clock").textContent = timeText(status.clock_ms + since);
  const e = $("elapsed");
  if (status.segment && status.segment_elapsed_s != null) {
    e.textContent = `REC ${clock(status.segment_elapsed_s + since / 1000)}`;
  } else {
    e.textContent = isRec(status) ? "REC" : "NOT RECORDING";
  }
}
setInterval(tick, 250);

function showLed(led) {
  const v = led.value;
  const el = $("led");
  el.style.background = v > 0.02 ? `rgba(255, 40, 40, ${0.25 + 0.75 * v})` : "#3a1214";
  el.style.boxShadow = v > 0.02 ? `0 0 ${Math.round(16 * v)}px rgba(255, 40, 40, ${v})` : "none";
  el.dataset.lit = String(v > 0.02);
  $("led-pattern").textContent = led.pattern;
}

// ---------- feedback ----------
// A snapshot's `notice` is not enough: the event stream sends only the newest snapshot (one
// with a notice can be overtaken by the next before it is sent) and a new connection starts
// with the current one (its notice again). So each toast follows a change of state that
// stays visible in every later snapshot: a new last_still (photo), a new incident id (protect),
// entering storage_full, a new last_error.
let lastIncident = null;   // the newest incident id seen (null: not yet known)
let incidentsBusy = null;  // the look-up running, and whether another is wanted after it
function noticeFeedback(before, s) {
  if (!before) {
    if (lastIncident === null) checkIncidents();  // the baseline: no toast for old incidents
    return;
  }
  if (s.last_still != null && s.last_still !== before.last_still) {
    toast("Photo saved");
    settle("photo", "done");
  }
  if (s.notice === "protect" || s.counts.protected !== before.counts.protected
      || s.version > before.version + 1 || pending.protect.state === "pending") checkIncidents();
  if (s.state === "storage_full" && before.state !== "storage_full") {
    toast("Card full: recording paused until space is freed", "warn");
  }
  if ((s.last_error && s.last_error !== before.last_error)
      || (s.state === "error" && before.state !== "error")) {
    const text = s.last_error || "The dashcam reports an error";
    toast(text, "error");
    // "photo failed: …", "take_photo failed: …", "protect failed: …" (appliance/controller.py)
    if (/^(take_)?photo failed/.test(text)) settle("photo", "failed");
    if (/^protect failed/.test(text)) settle("protect", "failed");
  }
}
// What the gallery shows of it: the time, the length so far and the clips (never their
// numbers); an impact first, with its peak.
function incidentToast(inc, detail) {
  const n = inc.clips.length;
  const parts = [inc.kind === "impact"
    ? `IMPACT${inc.peak_g != null ? ` ${inc.peak_g.toFixed(1)} g` : ""} · protected`
    : inc.kind === "parking" ? "Event while parked · protected" : "Incident protected",
  timeText(inc.wall_s * 1000)];
  const dur = detail && detail.duration_s;
  if (n) parts.push(`${dur ? `${clock(dur)}, ` : ""}${n} clip${n === 1 ? "" : "s"}`);
  if (!inc.complete) parts.push(n ? "the next clip is added too" : "the next clip is kept");
  return parts.join(" · ");
}
async function checkIncidents() {
  if (incidentsBusy) { incidentsBusy.again = true; return; }
  incidentsBusy = { again: false };
  try {
    const list = await api("GET", "/api/incidents");  // newest first
    if (lastIncident === null) lastIncident = list.length ? list[0].id : 0;
    const fresh = list.filter((i) => i.id > lastIncident).reverse();
    for (const inc of fresh) {
      const detail = await api("GET", `/api/incidents/${inc.id}`).catch(() => null);
      toast(incidentToast(inc, detail), inc.kind === "impact" ? "impact" : "ok");
      lastIncident = inc.id;
    }
    if (fresh.length) settle("protect", "done");
  } catch (e) { /* the next snapshot asks again */ }
  const again = incidentsBusy.again;
  incidentsBusy = null;
  if (again) checkIncidents();
}

// ---------- the connection ----------
// Lost: nothing on the page may look live. The state is unknown, the picture is marked
// frozen, the clock and the clip's time stop where they were, every control that needs the
// dashcam is off with the reason, and a command waiting for its answer is settled as unknown.
// app.js reconnects by itself; the first snapshot after it puts everything back.
const NEEDS_LINK = ["photo", "record", "protect", "vbtn-record", "vbtn-photo", "vbtn-protect",
  "vbtn-bump"];
function linkLost() { return document.documentElement.dataset.link !== "live"; }
let linkWasLost = false;
function showLink(live) {
  const lostAt = $("clock").textContent;
  $("offline").hidden = live;
  if (!live) {
    $("offline-text").textContent = status && status.clock_ms
      ? `No connection to the dashcam since ${lostAt}. Reconnecting…`
      : "No connection to the dashcam. Reconnecting…";
    const pill = $("state");
    pill.dataset.state = "unknown";
    pill.textContent = "No connection";
    $("rec-chip").dataset.rec = "unknown";
    $("elapsed").textContent = "?";
  }
  $("liveview").dataset.frozen = String(!live);
  $("frozen").hidden = live;
  for (const id of NEEDS_LINK) block($(id), "link", live ? null : "No connection to the dashcam.");
  // Back: the state and the clock come with the snapshot that follows at once; the live
  // view's stream may have died with the connection without an error: a new one.
  if (live && linkWasLost) restartLiveView();
  linkWasLost = !live;
  if (!live) {
    for (const what of Object.keys(pending)) settle(what, "failed", "the connection was lost before the dashcam answered");
  }
}
document.addEventListener("dashcam:link", (ev) => showLink(ev.detail.live));
for (const id of NEEDS_LINK) block($(id), "link", "Connecting to the dashcam…");

// ---------- commands: each button shows pending, then done or failed ----------
const PENDING_MS = 10000;
const pending = { photo: { state: "idle" }, protect: { state: "idle" }, record: { state: "idle" } };
function press(what, path, body) {
  const p = pending[what];
  clearTimeout(p.timer);
  p.state = "pending";
  $(what).dataset.pending = "pending";
  $(what).setAttribute("aria-busy", "true");
  p.timer = setTimeout(() => settle(what, "failed", "No answer from the dashcam"), PENDING_MS);
  api("POST", path, body).catch((e) => settle(what, "failed", e.message));
}
function settle(what, result, why) {
  const p = pending[what];
  if (p.state !== "pending") return;
  clearTimeout(p.timer);
  p.state = result;
  $(what).dataset.pending = result;
  $(what).removeAttribute("aria-busy");
  if (why) toast(`${what[0].toUpperCase()}${what.slice(1)} failed: ${why}`, "error");
  p.timer = setTimeout(() => { p.state = "idle"; $(what).dataset.pending = "idle"; }, 2000);
}
document.addEventListener("dashcam:status", (ev) => {
  if (pending.record.state === "pending" && isRec(ev.detail) === pending.record.want) {
    settle("record", "done");
  }
});
// Record starts at one tap; Stop asks first (the biggest button, under a thumb in a moving
// car: a stop by mistake loses what comes next).
$("record").addEventListener("click", () => {
  if (!isRec(status)) {
    pending.record.want = true;
    press("record", "/api/recording/start");
    return;
  }
  $("stop-confirm").returnValue = "";
  $("stop-confirm").showModal();
});
$("stop-confirm").addEventListener("close", () => {
  if ($("stop-confirm").returnValue !== "stop" || !isRec(status) || linkLost()) return;
  pending.record.want = false;
  press("record", "/api/recording/stop");
});
$("photo").addEventListener("click", () => press("photo", "/api/photos"));
$("protect").addEventListener("click", () => press("protect", "/api/incidents"));

async function command(path, body) {
  try { await api("POST", path, body); } catch (e) { toast(e.message, "error"); }
}
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

// ---------- live view ----------
// Watched only while the Live tab and the page are both visible: removing the src closes
// the stream, and the camera stops making previews when nobody watches.
// While the camera is hot the dashcam makes no preview (its health's `preview` is false):
// the live view says so instead of showing a broken picture.
let liveRetry = null;
const PAUSED_TEXT = "Preview paused: the camera is hot";
function previewPaused() { return !!(status && status.health && status.health.preview === false); }
function liveWanted() { return !$("tab-live").hidden && !document.hidden && !previewPaused(); }
function restartLiveView() {  // the stream may have died with the connection: a new one
  clearTimeout(liveRetry);
  if (liveWanted()) $("preview").src = `/api/preview.mjpeg?t=${Date.now()}`;
}
function updateLiveView() {
  const img = $("preview");
  const on = liveWanted();
  $("liveview").dataset.on = String(on);
  const paused = previewPaused();
  if (paused || $("liveview").dataset.paused === "true") {
    $("preview-note").textContent = PAUSED_TEXT;
    $("preview-note").hidden = !paused;
  }
  $("liveview").dataset.paused = String(paused);
  if (!on) {
    clearTimeout(liveRetry);
    $("liveview").dataset.playing = "false";
    img.removeAttribute("src");
  } else if (!img.getAttribute("src")) {
    $("preview-note").hidden = true;
    img.src = `/api/preview.mjpeg?t=${Date.now()}`;
  }
}
$("preview").addEventListener("load", () => { $("liveview").dataset.playing = "true"; });
$("preview").addEventListener("error", () => {
  $("liveview").dataset.playing = "false";
  // No stream asked for: nothing to retry (and nothing to update: WebKit fires error when
  // the src is removed, so updating here would remove it again, and again, for ever).
  if (!$("preview").getAttribute("src")) return;
  if (!liveWanted()) { updateLiveView(); return; }  // e.g. the preview paused while hot
  $("preview-note").textContent = "Live view busy or lost; retrying…";
  $("preview-note").hidden = false;
  $("preview").removeAttribute("src");
  clearTimeout(liveRetry);
  // Not while the connection is lost (showLink reopens it when the dashcam is back): the
  // stream asked of a server on its way down crashed WebKit's page in the tests.
  liveRetry = setTimeout(() => { if (!linkLost()) updateLiveView(); }, 2000);
});
document.addEventListener("visibilitychange", updateLiveView);
document.addEventListener("dashcam:status", () => {
  if (String(previewPaused()) !== $("liveview").dataset.paused) updateLiveView();
});

// Tap for full screen (landscape where the phone allows it); tap again to leave.
function toggleFullscreen() {
  const box = $("liveview");
  if (document.fullscreenElement) { document.exitFullscreen().catch(() => {}); return; }
  if (!box.requestFullscreen) return;
  box.requestFullscreen({ navigationUI: "hide" }).then(() => {
    if (screen.orientation && screen.orientation.lock) {
      screen.orientation.lock("landscape").catch(() => {});  // refused on desktops: fine
    }
  }).catch(() => {});
}
$("liveview").addEventListener("click", toggleFullscreen);
$("liveview").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggleFullscreen(); }
});
document.addEventListener("fullscreenchange", () => {
  if (!document.fullscreenElement && screen.orientation && screen.orientation.unlock) {
    try { screen.orientation.unlock(); } catch (e) { /* not locked */ }
  }
});
