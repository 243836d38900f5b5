"use strict";
// The Settings tab: settings, clock and power.
function showClock() {
  if (!status) return;
  const drift = (Date.now() - status.clock_ms - (performance.now() - statusAt)) / 1000;
  const when = new Date(status.clock_ms).toLocaleString();
  $("clock-text").textContent = drift > 2 ? `behind by ${Math.round(drift)} s` : when;
  $("clock-sync").disabled = !(drift > 2);
}

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
