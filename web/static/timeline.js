"use strict";
// The incident's time line under the player (gallery.js draws it on opening an incident):
// one bar across its clips, their borders marked, the moment (press or impact) flagged, the
// playhead moving with the video; a tap seeks anywhere, "Moment" goes back to it.
const LEAD_S = 5;  // an incident opens this many seconds before its moment

function momentStart(tl) {
  return tl && tl.moment_s != null ? Math.max(0, tl.moment_s - LEAD_S) : 0;
}
function clipAt(tl, t) {  // the index of the clip playing at t seconds
  let index = 0;
  tl.clips.forEach((c, n) => { if (t >= c.start_s - 0.001) index = n; });
  return index;
}
function timelinePct(tl, s) {
  return `${Math.min(100, Math.max(0, (s / (tl.duration_s || 1)) * 100))}%`;
}
function drawTimeline(tl) {
  const box = $("timeline"), bar = box.querySelector(".bar");
  bar.textContent = "";
  box.hidden = !tl;
  box.tl = tl;
  if (!tl) return;
  for (const c of tl.clips.slice(1)) {
    const border = document.createElement("span");
    border.className = "border";
    border.style.left = timelinePct(tl, c.start_s);
    bar.append(border);
  }
  const has = tl.moment_s != null;
  if (has) {
    const mark = document.createElement("span");
    mark.className = "moment";
    mark.style.left = timelinePct(tl, tl.moment_s);
    mark.title = `The moment, ${clock(tl.moment_s)} in`;
    bar.append(mark);
  }
  $("to-moment").hidden = !has;
  const head = document.createElement("span");
  head.className = "head";
  bar.append(head);
  bar.setAttribute("aria-valuemax", String(Math.round(tl.duration_s)));
  moveTimelineHead(momentStart(tl));
}
function moveTimelineHead(t) {
  const box = $("timeline"), tl = box.tl;
  if (!tl) return;
  const head = box.querySelector(".head");
  if (head) head.style.left = timelinePct(tl, t);
  box.querySelector(".bar").setAttribute("aria-valuenow", String(Math.round(t)));
  $("timeline-time").textContent = `${clock(t)} / ${clock(tl.duration_s)}`;
}
function seekTimeline(t) {
  const video = $("video"), tl = $("timeline").tl;
  if (!tl) return;
  video.currentTime = Math.min(Math.max(0, t), Math.max(0, tl.duration_s - 0.05));
  moveTimelineHead(video.currentTime);
}
$("timeline").querySelector(".bar").addEventListener("click", (ev) => {
  const tl = $("timeline").tl, rect = ev.currentTarget.getBoundingClientRect();
  if (tl && rect.width) seekTimeline(((ev.clientX - rect.left) / rect.width) * tl.duration_s);
});
$("timeline").querySelector(".bar").addEventListener("keydown", (ev) => {
  const step = { ArrowLeft: -5, ArrowRight: 5 }[ev.key];
  if (step) { ev.preventDefault(); seekTimeline($("video").currentTime + step); }
});
$("to-moment").addEventListener("click", () => {
  const tl = $("timeline").tl;
  if (tl) seekTimeline(momentStart(tl));
});
