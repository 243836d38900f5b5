"use strict";
// The Live tab: state, storage, LED, the controls and the preview.
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
  emit("dashcam:status", s);
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

function showLed(led) {
  const v = led.value;
  const el = $("led");
  el.style.background = v > 0.02 ? `rgba(255, 40, 40, ${0.25 + 0.75 * v})` : "#3a1214";
  el.style.boxShadow = v > 0.02 ? `0 0 ${Math.round(16 * v)}px rgba(255, 40, 40, ${v})` : "none";
  el.dataset.lit = String(v > 0.02);
  $("led-pattern").textContent = led.pattern;
}

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
