"use strict";
// GPS on the dashboard (plugs into core.js's events; owns only what it adds):
//   Live: speed and fix state in #live-extra, from every "dashcam:status";
//   player: the clip's track in #player-extra on "dashcam:player": the route as an SVG
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

// Fits (x, y) pairs into the drawing, keeping their proportions (and centred) when `keepAspect`.
function fit(xs, ys, keepAspect) {
  const minX = Math.min(...xs), maxX = Math.max(...xs);
  const minY = Math.min(...ys), maxY = Math.max(...ys);
  const w = TRACK_W - 2 * TRACK_PAD, h = TRACK_H - 2 * TRACK_PAD;
  let sx = w / Math.max(maxX - minX, 1e-9), sy = h / Math.max(maxY - minY, 1e-9);
  let ox = 0, oy = 0;
  if (keepAspect) {
    sx = sy = Math.min(sx, sy);
    ox = (w - (maxX - minX) * sx) / 2;
    oy = (h - (maxY - minY) * sy) / 2;
  }
  return xs.map((x, i) => {
    const px = TRACK_PAD + ox + (x - minX) * sx, py = TRACK_H - TRACK_PAD - oy - (ys[i] - minY) * sy;
    return `${px.toFixed(1)},${py.toFixed(1)}`;
  }).join(" ");
}

function routeSvg(points) {
  // Longitude shrinks with latitude: scaled by cos(latitude) the route keeps its shape.
  const k = Math.cos((points[0].lat * Math.PI) / 180);
  const svg = svgNode("svg", { viewBox: `0 0 ${TRACK_W} ${TRACK_H}`, class: "track-route", role: "img" });
  svg.setAttribute("aria-label", `route, ${points.length} points`);
  const line = fit(points.map((p) => p.lon * k), points.map((p) => p.lat), true);
  svg.append(svgNode("polyline", { points: line, class: "route" }));
  const [x, y] = line.split(" ")[0].split(",");
  svg.append(svgNode("circle", { cx: x, cy: y, r: 4, class: "start" }));
  return svg;
}

function speedSvg(points, mph) {
  const factor = mph ? 2.2369362920544 : 3.6, unit = mph ? "mph" : "km/h";
  const timed = points.filter((p) => p.speed_mps != null);
  const svg = svgNode("svg", { viewBox: `0 0 ${TRACK_W} ${TRACK_H}`, class: "track-speed", role: "img" });
  const top = Math.max(...timed.map((p) => p.speed_mps * factor), 0);
  svg.setAttribute("aria-label", `speed over time, up to ${Math.round(top)} ${unit}`);
  if (timed.length) {
    const ys = timed.map((p) => p.speed_mps * factor).concat([0]);
    const xs = timed.map((p) => p.t_s).concat([timed[0].t_s]);
    const line = fit(xs, ys, false).split(" ").slice(0, -1).join(" ");  // the 0 anchors the scale
    svg.append(svgNode("polyline", { points: line, class: "speed" }));
  }
  const label = svgNode("text", { x: TRACK_PAD, y: TRACK_PAD + 12, class: "label" });
  label.textContent = `max ${Math.round(top)} ${unit}`;
  svg.append(label);
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

let trackAsked = 0;  // the newest player opened: an older answer arriving late is dropped
document.addEventListener("dashcam:player", async (e) => {
  const { item, box } = e.detail;
  const asked = ++trackAsked;
  const old = box.querySelector(".track");
  if (old) old.remove();
  if (!item.video) return;
  let track;
  try {
    track = await api("GET", `/api/items/${item.id}/track`);
  } catch (err) {
    return;  // no track: recorded without a fix, or without GPS
  }
  if (asked !== trackAsked || !track.points.length) return;
  const mph = Boolean(status && status.gps && status.gps.speed_text.endsWith("mph"));
  const holder = document.createElement("div");
  holder.className = "track";
  holder.append(routeSvg(track.points), speedSvg(track.points, mph));
  const links = document.createElement("div");
  links.className = "track-links";
  links.append(downloadLink(track.gpx_url, "Track (GPX)"), downloadLink(track.srt_url, "Subtitles (SRT)"));
  holder.append(links);
  box.append(holder);
});
