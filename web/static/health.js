"use strict";
// The Health card on the Live tab and the warning over it (plugs into core.js's events;
// owns only #health-block). Plain words from the status's `health` (appliance/health.py):
// the temperature and its step, the power supply, the card's wear, the last clip saved.
const STEP_TEXT = {
  normal: "normal",
  warm: "warm: live view paused, lower bit rate",
  hot: "hot: lower frame rate too; recording goes on",
};

function healthLines(h) {
  const lines = [];
  const temp = h.cpu_temp_c == null ? "unknown" : `${Math.round(h.cpu_temp_c)} °C`;
  lines.push({ key: "temp", text: `Temperature ${temp}, ${STEP_TEXT[h.thermal_step] || h.thermal_step}`,
    bad: h.thermal_step !== "normal" });
  if (h.under_voltage) {
    lines.push({ key: "power", text: "Under-voltage now: check the power supply", bad: true });
  } else if (h.under_voltage_since_boot) {
    lines.push({ key: "power", text: "Under-voltage since boot: check the power supply", bad: true });
  } else if (h.under_voltage === false) {
    lines.push({ key: "power", text: "Power supply: good" });
  }
  const since = h.throttled_since_boot;
  if (since && (since.throttled || since.freq_capped || since.soft_temp_limit)) {
    lines.push({ key: "throttle", text: "The Pi slowed itself down since boot (heat or power)", bad: true });
  }
  if (h.card_wear_percent != null) {
    lines.push({ key: "card", text: `Card: about ${Math.round(h.card_wear_percent)} % of its rated writes used`,
      bad: h.card_wear_percent >= 80 });
  } else if (h.card_written_bytes != null) {
    lines.push({ key: "card", text: `Card: ${bytes(h.card_written_bytes)} written (rated writes not set)` });
  }
  lines.push({ key: "clip", text: "" });  // filled by healthTick: it ages by itself
  if (h.boot_to_record_s != null) {
    lines.push({ key: "boot", text: `From power-on to recording: ${h.boot_to_record_s.toFixed(1)} s` });
  }
  return lines;
}

function ago(s) {
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function healthTick() {  // the last clip's age, brought up to now between snapshots
  const line = document.querySelector("#health-lines [data-key='clip']");
  if (!line || !status || !status.health) return;
  const age = status.health.last_segment_age_s;
  line.textContent = age == null ? "Recording: no clip saved yet"
    : `Recording: last clip saved ${ago(age + (performance.now() - statusAt) / 1000)}`;
}
setInterval(healthTick, 1000);

document.addEventListener("dashcam:status", (e) => {
  const h = e.detail ? e.detail.health : null;
  $("health-block").hidden = !h;
  if (!h) return;
  const warn = $("health-warning");
  warn.hidden = !h.warning;
  warn.textContent = h.warning || "";
  $("health").dataset.step = h.thermal_step;
  const list = $("health-lines");
  list.replaceChildren(...healthLines(h).map((l) => {
    const li = document.createElement("li");
    li.dataset.key = l.key;
    li.dataset.bad = String(!!l.bad);
    li.textContent = l.text;
    return li;
  }));
  healthTick();
});
