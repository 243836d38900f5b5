"use strict";
// The Settings tab: the theme of this phone, the camera's settings in plain words, clock, power.
function showClock() {
  if (!status) return;
  const drift = (Date.now() - status.clock_ms - (performance.now() - statusAt)) / 1000;
  const when = new Date(status.clock_ms).toLocaleString();
  $("clock-text").textContent = drift > 2 ? `behind by ${Math.round(drift)} s` : when;
  const why = drift > 2 ? null
    : "The dashcam's clock already agrees with this phone's (within 2 s): nothing to set.";
  block($("clock-sync"), "clock", why);
  $("clock-why").hidden = !why;
  $("clock-why").textContent = why || "";
}

// ---------- theme (this phone only) ----------
for (const r of document.querySelectorAll("input[name=theme]")) {
  r.checked = r.value === themeChoice();
  r.addEventListener("change", () => { if (r.checked) setTheme(r.value); });
}

// ---------- settings ----------
// Each field of the form shows one or two config keys in plain units; `read` turns the
// config into the field's text, `write` the field back into keys. Save compares each field
// with what was loaded and sends only the keys of the fields that changed.
const GB = 1e9;
const num = (v) => Number(String(v).replace(",", "."));
const FIELDS = {
  clip: {
    label: "Clip length",
    read: (s, f) => { f.clip_min.value = Math.floor(s.segment_seconds / 60);
      f.clip_sec.value = Math.round(s.segment_seconds % 60); },
    text: (f) => `${f.clip_min.value}:${f.clip_sec.value}`,
    write: (f) => ({ segment_seconds: num(f.clip_min.value) * 60 + num(f.clip_sec.value) }),
  },
  resolution: {
    label: "Resolution",
    read: (s, f) => {
      const v = `${s.video_width}x${s.video_height}`, sel = f.resolution;
      if (![...sel.options].some((o) => o.value === v)) sel.add(new Option(`${s.video_width} × ${s.video_height}`, v));
      sel.value = v;
    },
    text: (f) => f.resolution.value,
    write: (f) => { const [w, h] = f.resolution.value.split("x").map(Number);
      return { video_width: w, video_height: h }; },
  },
  quality: {
    label: "Quality",
    read: (s, f) => { f.bitrate_mbps.value = +(s.video_bitrate / 1e6).toFixed(2); },
    text: (f) => f.bitrate_mbps.value,
    write: (f) => ({ video_bitrate: Math.round(num(f.bitrate_mbps.value) * 1e6) }),
  },
  reserve: {
    label: "Space kept free",
    read: (s, f) => { f.reserve_gb.value = +(s.min_free_bytes / GB).toFixed(2); },
    text: (f) => f.reserve_gb.value,
    write: (f) => ({ min_free_bytes: Math.round(num(f.reserve_gb.value) * GB) }),
  },
  percent: {
    label: "Share of the card kept free",
    read: (s, f) => { f.reserve_percent.value = s.min_free_percent; },
    text: (f) => f.reserve_percent.value,
    write: (f) => ({ min_free_percent: num(f.reserve_percent.value) }),
  },
  led: {
    label: "LED brightness",
    read: (s, f) => { f.led_brightness.value = s.led_brightness; },
    text: (f) => f.led_brightness.value,
    write: (f) => ({ led_brightness: num(f.led_brightness.value) }),
  },
  autostart: {
    label: "Start recording at power-on",
    read: (s, f) => { f.autostart.checked = s.autostart; },
    text: (f) => String(f.autostart.checked),
    write: (f) => ({ autostart: f.autostart.checked }),
  },
};
const KEY_LABEL = {};
for (const field of Object.values(FIELDS)) {
  for (const k of Object.keys(field.write($("settings").elements))) KEY_LABEL[k] = field.label;
}
// The API's messages name config keys (for machines and the config file); the page names the
// field, in the unit the key is in when the form shows another one.
const KEY_WORDS = { ...KEY_LABEL, segment_seconds: "Clip length (in seconds)",
  video_bitrate: "Quality (in bit/s)", min_free_bytes: "Space kept free (in bytes)",
  min_free_percent: "Space kept free (% of the card)", video_width: "Resolution (width)",
  video_height: "Resolution (height)", loop_quota_bytes: "Space for driving clips (in bytes)",
  protected_quota_percent: "Space for saved clips (% of the card)" };
function plainWords(message) {
  let text = message.replace(/^settings: /, "");
  for (const [key, words] of Object.entries(KEY_WORDS)) text = text.replace(new RegExp(`\\b${key}\\b`, "g"), words);
  return text;
}
let loaded = null;  // {settings, texts: each field's text as loaded}

async function loadSettings() { showSettings(await api("GET", "/api/settings")); }
function showSettings(data) {
  const f = $("settings").elements, texts = {};
  for (const [name, field] of Object.entries(FIELDS)) { field.read(data.settings, f); texts[name] = field.text(f); }
  loaded = { settings: data.settings, texts };
  for (const el of document.querySelectorAll("#settings [data-keys]")) {
    const restart = el.dataset.keys.split(" ").some((k) => data.restart.includes(k));
    el.querySelector(".when").textContent = restart ? "· after a restart" : "";
  }
  explain();
}
function changes() {
  const f = $("settings").elements, body = {};
  for (const [name, field] of Object.entries(FIELDS)) {
    if (field.text(f) !== loaded.texts[name]) Object.assign(body, field.write(f));
  }
  return body;
}
function explain() {  // what the quality and the reserve mean, in time
  const f = $("settings").elements;
  const bps = num(f.bitrate_mbps.value) * 1e6;
  $("led-value").textContent = `${Math.round(num(f.led_brightness.value) * 100)} %`;
  if (!(bps > 0)) { $("quality-hint").textContent = ""; $("reserve-hint").textContent = ""; return; }
  const perHour = bps / 8 * 3600;
  $("quality-hint").textContent = `About ${bytes(perHour)} per hour of driving.`;
  const total = status ? status.storage.total : 0;
  const byPercent = total * num(f.reserve_percent.value) / 100;
  const asLoaded = loaded && f.reserve_gb.value === loaded.texts.reserve;  // not rounded
  const reserve = Math.max(asLoaded ? loaded.settings.min_free_bytes : num(f.reserve_gb.value) * GB,
    byPercent);
  const minutes = Math.round(reserve * 8 / bps / 60);
  $("reserve-hint").textContent = `The oldest loop clips are deleted to keep ${bytes(reserve)} free`
    + `: room for about ${minutes} min of video at ${+(bps / 1e6).toFixed(2)} Mbit/s.`;
}
$("settings").addEventListener("input", explain);
$("settings").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("settings-msg");
  if (!loaded) return;
  const body = changes();
  const keys = Object.keys(body);
  if (!keys.length) { msg.textContent = "Nothing changed."; return; }
  const names = (ks) => [...new Set(ks.map((k) => KEY_LABEL[k] || k))].join(", ");
  try {
    const r = await api("PUT", "/api/settings", body);
    const later = keys.filter((k) => r.restart_needed.includes(k));  // in the form's order
    const now = keys.filter((k) => !later.includes(k));
    msg.textContent = `Saved${now.length ? `: ${names(now)} applied now` : ""}.`
      + (later.length ? ` Applies after a restart: ${names(later)}.` : "");
    showSettings(r);  // the values saved (those waiting for a restart included)
  } catch (e) { msg.textContent = `Not saved: ${plainWords(e.message)}`; }
});

// ---------- system ----------
// Log out, where a password guards the dashboard; where none does, the tab says so.
let sessionInfo = null;
async function loadSession() {
  sessionInfo = sessionInfo || await api("GET", "/api/session");
  $("logout").hidden = !sessionInfo.password;
  $("login-note").hidden = sessionInfo.password;
}
$("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/session"); toLogin("out"); }
  catch (e) { $("system-msg").textContent = `Not logged out: ${e.message}`; }
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
