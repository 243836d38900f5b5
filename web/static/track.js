"use strict";
// GPS on the dashboard (plugs into core.js's events; owns only what it adds):
//   Live: speed and fix state in #live-extra, from every "dashcam:status";
//   player: the clip's or the incident's track in #player-extra on "dashcam:player", its
//   position following the video: the route as an SVG
//   polyline (no map tiles: the car has no internet), speed over time, GPX/SRT downloads.
const SVG_NS = "http://www.w3.org/2000/svg";
const TRACK_W = 320, TRACK_H = 180, TRACK_PAD = 10;

function gpsText(gps) {  // in a driver's words: is the position known (2D: without height)
  if (!gps.fix) return "GPS: looking for satellites (no position yet)";
  const fix = gps.mode === 2 ? "GPS: position found (no height yet)" : "GPS: position found";
  return gps.speed_text ? `${fix} · ${gps.speed_text}` : fix;
}

let gpsLine = null;
document.addEventListener("dashcam:status", (e) => {
  const gps = e.detail ? e.detail.gps : null;
  if (!gpsLine) {
    gpsLine = document.createElement("div");
    gpsLine.id = "gps-line";
    gpsLine.className = "card gps-line";
    gpsLine.setAttribute("role", "status");
    $("live-extra").append(gpsLine);
  }
  gpsLine.hidden = !gps;
  if (gps) {
    gpsLine.textContent = gpsText(gps);
    gpsLine.dataset.fix = String(gps.fix);
  }
});

function svgNode(name, attrs) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// Fits (x, y) pairs into the drawing, keeping their proportions (and centred) when `keepAspect`;
// `top` more pixels are kept free above (for labels). The [x, y] of each pair, in pixels.
function fit(xs, ys, keepAspect, top = 0) {
  const minX = Math.min(...xs), maxX = Math.max(...xs);
  const minY = Math.min(...ys), maxY = Math.max(...ys);
  const w = TRACK_W - 2 * TRACK_PAD, h = TRACK_H - 2 * TRACK_PAD - top;
  let sx = w / Math.max(maxX - minX, 1e-9), sy = h / Math.max(maxY - minY, 1e-9);
  let ox = 0, oy = 0;
  if (keepAspect) {
    sx = sy = Math.min(sx, sy);
    ox = (w - (maxX - minX) * sx) / 2;
    oy = (h - (maxY - minY) * sy) / 2;
  }
  return xs.map((x, i) => [TRACK_PAD + ox + (x - minX) * sx, TRACK_H - TRACK_PAD - oy - (ys[i] - minY) * sy]);
}
const pointsAttr = (xy) => xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");

function routeSvg(points) {
  // Longitude shrinks with latitude: scaled by cos(latitude) the route keeps its shape.
  const k = Math.cos((points[0].lat * Math.PI) / 180);
  const svg = svgNode("svg", { viewBox: `0 0 ${TRACK_W} ${TRACK_H}`, class: "track-route", role: "img" });
  svg.setAttribute("aria-label", `route, ${points.length} points`);
  const xy = fit(points.map((p) => p.lon * k), points.map((p) => p.lat), true);
  svg.append(svgNode("polyline", { points: pointsAttr(xy), class: "route" }));
  svg.append(svgNode("circle", { cx: xy[0][0], cy: xy[0][1], r: 4, class: "start" }));
  const here = svgNode("circle", { cx: xy[0][0], cy: xy[0][1], r: 6, class: "here" });
  svg.append(here);
  svg.follow = (n) => { here.setAttribute("cx", xy[n][0]); here.setAttribute("cy", xy[n][1]); };
  return svg;
}

const LABEL_BAND = 18;  // the speed chart's labels stand above its line, never on it
function speedSvg(points, mph) {
  const factor = mph ? 2.2369362920544 : 3.6, unit = mph ? "mph" : "km/h";
  const svg = svgNode("svg", { viewBox: `0 0 ${TRACK_W} ${TRACK_H}`, class: "track-speed", role: "img" });
  const timed = points.map((p, n) => [p, n]).filter(([p]) => p.speed_mps != null);
  const top = Math.max(...timed.map(([p]) => p.speed_mps * factor), 0);
  svg.setAttribute("aria-label", `speed over time, up to ${Math.round(top)} ${unit}`);
  const t0 = points[0].t_s, t1 = points[points.length - 1].t_s;
  const xy = fit(points.map((p) => p.t_s).concat([t0, t1]),
    points.map((p) => (p.speed_mps ?? 0) * factor).concat([0, 0]), false, LABEL_BAND);
  if (timed.length) {
    svg.append(svgNode("polyline", { points: pointsAttr(timed.map(([, n]) => xy[n])), class: "speed" }));
  }
  const label = svgNode("text", { x: TRACK_PAD, y: TRACK_PAD + 12, class: "label" });
  label.textContent = `max ${Math.round(top)} ${unit}`;
  const now = svgNode("text", { x: TRACK_W - TRACK_PAD, y: TRACK_PAD + 12, class: "label now" });
  const cursor = svgNode("line", { x1: xy[0][0], x2: xy[0][0], y1: TRACK_PAD + LABEL_BAND,
    y2: TRACK_H - TRACK_PAD, class: "cursor" });
  svg.append(label, now, cursor);
  svg.follow = (n) => {
    cursor.setAttribute("x1", xy[n][0]); cursor.setAttribute("x2", xy[n][0]);
    const p = points[n];
    now.textContent = p.speed_mps == null ? "" : `${Math.round(p.speed_mps * factor)} ${unit}`;
  };
  return svg;
}

function downloadLink(href, text) {
  const a = document.createElement("a");
  a.className = "btn small";
  a.href = href;
  a.download = "";
  a.textContent = text;
  return a;
}

// The point at `t` seconds (the last one at or before it), by bisection.
function pointAt(points, t) {
  let lo = 0, hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (points[mid].t_s <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// The player's track: a clip's, or an incident's clips' one after the other on the
// incident's time line (gallery.js sends items and timeline), drawn once per opening; the
// position on the route and the cursor on the speed chart follow the video.
let trackAsked = 0;  // the newest player opened: an older answer arriving late is dropped
let trackKey = null;
document.addEventListener("dashcam:player", async (e) => {
  const { item, box, items, timeline } = e.detail;
  const key = timeline ? `incident:${timeline.clips.map((c) => c.seq).join("-")}` : `clip:${item.id}`;
  if (key === trackKey && box.querySelector(".track")) return;  // the same incident, another clip
  trackKey = key;
  const asked = ++trackAsked;
  const old = box.querySelector(".track");
  if (old) old.remove();
  if (!item.video) return;
  const parts = timeline
    ? timeline.clips.map((c) => [items.find((i) => i.seq === c.seq), c.start_s]).filter(([i]) => i)
    : [[item, 0]];
  const tracks = await Promise.all(parts.map(([it, at]) =>
    api("GET", `/api/items/${it.id}/track`).then((t) => ({ t, at }), () => null)));
  if (asked !== trackAsked) return;
  const points = [];
  for (const part of tracks) {
    if (part) for (const p of part.t.points) points.push({ ...p, t_s: p.t_s + part.at });
  }
  if (!points.length) return;  // no track: recorded without a fix, or without GPS
  const mph = Boolean(status && status.gps && status.gps.speed_text.endsWith("mph"));
  const holder = document.createElement("div");
  holder.className = "track";
  const route = routeSvg(points), speed = speedSvg(points, mph);
  holder.append(route, speed);
  holder.follow = (t) => { const n = pointAt(points, t); route.follow(n); speed.follow(n); };
  const single = tracks.length === 1 && tracks[0];
  if (single) {  // an incident's merged track comes with its export (Evidence)
    const links = document.createElement("div");
    links.className = "track-links";
    links.append(downloadLink(single.t.gpx_url, "Track (GPX)"), downloadLink(single.t.srt_url, "Subtitles (SRT)"));
    holder.append(links);
  }
  box.append(holder);
  holder.follow($("video").currentTime || 0);
});
$("video").addEventListener("timeupdate", () => {
  const holder = $("player-extra").querySelector(".track");
  if (holder && holder.follow) holder.follow($("video").currentTime);
});
