"use strict";
// Shared by every script of the dashboard (classic scripts share one global scope).
// Load order (index.html): core, live, gallery, settings, app.
const $ = (id) => document.getElementById(id);
let status = null;       // the newest status snapshot
let statusAt = 0;        // performance.now() when it arrived

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

// Plug-in points: other scripts listen for these instead of editing the ones that send them.
//   "dashcam:status" (detail: the status snapshot), "dashcam:player" (detail: {item, box}).
function emit(name, detail) { document.dispatchEvent(new CustomEvent(name, { detail })); }
