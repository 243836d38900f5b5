"use strict";
// Shared by every script of the dashboard (classic scripts share one global scope).
// Load order (index.html): core (not deferred: it sets the theme before the first paint),
// then live, gallery, settings, app (deferred, in that order).
const $ = (id) => document.getElementById(id);
let status = null;       // the newest status snapshot
let statusAt = 0;        // performance.now() when it arrived

// ---------- theme (runs while the head is parsed: no flash of the wrong colours) ----------
// The choice is this phone's (sunlight is about this screen, not the camera): localStorage.
const THEMES = ["auto", "dark", "light", "sunlight"];
const THEME_KEY = "dashcam.theme";
const THEME_BG = { dark: "#0b0d10", light: "#f4f5f7", sunlight: "#ffffff" };
const prefersLight = window.matchMedia("(prefers-color-scheme: light)");
function themeChoice() {
  let v = null;
  try { v = localStorage.getItem(THEME_KEY); } catch (e) { v = null; }  // storage may be off
  return THEMES.includes(v) ? v : "auto";
}
function applyTheme(choice) {
  const theme = choice === "auto" ? (prefersLight.matches ? "light" : "dark") : choice;
  const root = document.documentElement;
  root.dataset.theme = theme;
  root.dataset.themeChoice = choice;
  const meta = document.querySelector('meta[name="theme-color"]');
  if (meta) meta.content = THEME_BG[theme];
}
function setTheme(choice) {
  try { localStorage.setItem(THEME_KEY, choice); } catch (e) { /* kept for this page only */ }
  applyTheme(choice);
}
applyTheme(themeChoice());
prefersLight.addEventListener("change", () => applyTheme(themeChoice()));

// ---------- session ----------
// A 401 on anything (a request, the event stream, the live view, a picture, a video) means
// the session is gone (it expired, this phone logged out, the password changed or the
// dashcam restarted): the page goes to the login instead of waiting for ever.
// why: "ended" (the server refused the session) or "out" (this phone logged out); the login
// page says which.
let leaving = false;
function toLogin(why = "ended") {
  if (leaving) return;
  leaving = true;
  location.replace(`/login?why=${why}`);
}
// A stream or a picture that failed does not say why: this asks. "ok", "login" (the session
// is gone: on the way to the login) or "down" (no answer: the connection is lost).
let sessionCheck = null;
function checkSession() {
  if (!sessionCheck) {
    sessionCheck = fetch("/api/status", { cache: "no-store" }).then((r) => {
      if (r.status === 401) { toLogin(); return "login"; }
      return r.ok ? "ok" : "down";
    }, () => "down").finally(() => { sessionCheck = null; });
  }
  return sessionCheck;
}
// Every picture or video of the page that fails to load (errors do not bubble: captured).
document.addEventListener("error", (ev) => {
  const el = ev.target;
  if ((el instanceof HTMLImageElement || el instanceof HTMLMediaElement) && el.getAttribute("src")) {
    checkSession();
  }
}, true);

// A control that cannot be used says why: `why` (null: this reason is over) is kept under
// `key` beside the control's other reasons; the control is off while any holds, and its
// title and data-why name them (the page shows them in its notes).
function block(el, key, why) {
  const reasons = el.blockedBy || (el.blockedBy = {});
  if (why) reasons[key] = why; else delete reasons[key];
  const text = Object.values(reasons).join(" ");
  if (el.tagName === "A") el.setAttribute("aria-disabled", String(!!text)); else el.disabled = !!text;
  if (text) { el.title = text; el.dataset.why = text; } else { el.removeAttribute("title"); delete el.dataset.why; }
}

// ---------- helpers ----------
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) { toLogin(); throw new Error("log in first"); }
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
function timeText(ms) {  // the appliance's time, shown in this phone's time zone
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23" });
}

// ---------- toasts ----------
// kind: "ok" (done), "warn" (needs attention), "impact" (the G-sensor protected a clip) or
// "error"; all but "ok" stay longer, and errors and impacts interrupt.
const VIBRATE = { ok: [40], warn: [120, 80, 120], impact: [400, 100, 400], error: [250, 100, 250] };
function toast(text, kind = "ok") {
  const box = $("toasts");
  const t = document.createElement("div");
  t.className = "toast";
  t.dataset.kind = kind;
  if (kind === "error" || kind === "impact") t.setAttribute("role", "alert");
  t.textContent = text;
  t.addEventListener("click", () => t.remove());
  box.append(t);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => t.remove(), kind === "ok" ? 4000 : 8000);
  if (navigator.vibrate) navigator.vibrate(VIBRATE[kind]);
}

// Plug-in points: other scripts listen for these instead of editing the ones that send them.
//   "dashcam:status" (detail: the status snapshot), "dashcam:player" (detail: {item, box}).
function emit(name, detail) { document.dispatchEvent(new CustomEvent(name, { detail })); }
