"use strict";
// The Gallery tab: Normal (loop) / Events (incidents) / Protected / Photos with their counts,
// the clip being recorded first, multi-select (zip, protect, delete); and the player: one
// clip or photo, or an incident played straight across its clips, exported and shared.
let galleryStale = true;  // live.js and app.js set it when the card's contents changed
const gal = {
  view: "loop",         // "loop" | "events" | "protected" | "photo"
  eventKind: "",        // in Events: "" (all), "manual", "impact" or "parking"
  day: "",
  before: null,         // the next page's cursor (Events: an index into gal.events)
  gen: 0,               // the reload in force: answers for an older one are dropped
  loading: false,
  events: [],           // the incidents, newest first (also their counts)
  selecting: false,
  selected: new Map(),  // tile key -> the items it stands for
  open: null,           // the player's content: {item} or {incident, items, index, detail}
};
const EVENT_PAGE = 12;
// A driver's words: the loop is "Driving" (overwritten when the card is full), protected
// clips are "Saved" (never overwritten), an incident was saved "By you" (Protect) or by an
// "Impact".
const ITEM_KIND_TEXT = { loop: "Driving", protected: "Saved", photo: "Photo" };
const BADGE_TEXT = { protected: "Saved", photo: "Photo" };
const VIEW_NOTE = {
  loop: "Driving: every clip as recorded; the oldest are overwritten when the card is full.",
  events: "Incidents: each moment you or an impact saved, its clips played as one.",
  protected: "Saved clips: the clips of every incident, one by one; never overwritten.",
  photo: "Photos taken with the Photo button.",
};

function durText(s) { return s == null ? "" : clock(Math.round(s)); }
function incidentText(inc) {
  if (inc.kind === "parking") return "While parked";
  if (inc.kind !== "impact") return "By you";
  return inc.peak_g == null ? "Impact" : `Impact ${inc.peak_g.toFixed(1)} g`;
}
function gEl(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

// ---------- loading ----------
// force: the user changed the view (a selection is kept across views: tiles show it again).
function reloadGallery(force = false) {
  galleryStale = true;
  if (gal.selecting && !force) return;  // never pull the tiles from under a selection: after it
  galleryStale = false;
  gal.gen++;
  gal.before = null;
  loadDays().catch(() => {});
  if (gal.view !== "events") loadEvents().catch(() => {});  // the Events count
  loadMore(true);
}
async function loadDays() {
  const data = await api("GET", "/api/days");
  const sel = $("day");
  const keep = sel.value;
  sel.length = 1;
  for (const d of data.days) sel.add(new Option(d, d));
  sel.value = data.days.includes(keep) ? keep : "";
  showGalleryCounts(data.counts);
}
async function loadEvents() {
  gal.events = await api("GET", "/api/incidents");
  const n = (k) => gal.events.filter((i) => !k || i.kind === k).length;
  $("count-events").textContent = n("");
  $("count-manual").textContent = n("manual");
  $("count-impact").textContent = n("impact");
  $("count-parking").textContent = n("parking");
}
function showGalleryCounts(counts) {
  for (const k of ["loop", "protected", "photo"]) $(`count-${k}`).textContent = counts[k] ?? 0;
}
async function loadMore(first) {
  if (gal.loading || (!first && gal.before === null)) return;
  gal.loading = true;
  const gen = gal.gen;
  let loaded = false;
  try {
    await (gal.view === "events" ? moreEvents(gen, first) : moreItems(gen, first));
    loaded = true;
  } catch (e) {
    if (gen === gal.gen) $("more").textContent = e.message;
  } finally {
    gal.loading = false;
  }
  if (gen !== gal.gen) loadMore(true);  // a reload came while this page was on its way
  else if (loaded && gal.before !== null) {
    // The observer reports changes only: observed anew, it says if the end is still in view.
    moreSeen.unobserve($("more"));
    moreSeen.observe($("more"));
  }
}
async function moreItems(gen, first) {
  const q = new URLSearchParams({ limit: "30", kind: gal.view });
  if (gal.day) q.set("day", gal.day);
  if (!first) q.set("before", String(gal.before));
  const page = await api("GET", `/api/items?${q}`);
  if (gen !== gal.gen) return;
  if (first) clearGallery();
  for (const item of page.items) placeTile(item.day, itemTile(item));
  gal.before = page.next_before;
  showGalleryEnd();
}
async function moreEvents(gen, first) {
  if (first) {
    await loadEvents();
    if (gen !== gal.gen) return;
    gal.before = 0;
  }
  const list = gal.events.filter((i) => !gal.eventKind || i.kind === gal.eventKind);
  const chunk = list.slice(gal.before, gal.before + EVENT_PAGE);
  const details = await Promise.all(
    chunk.map((i) => api("GET", `/api/incidents/${i.id}`).catch(() => null)));
  if (gen !== gal.gen) return;
  if (first) clearGallery();
  for (const d of details) if (d && d.items.length) placeTile(d.items[0].day, incidentTile(d));
  gal.before = gal.before + EVENT_PAGE < list.length ? gal.before + EVENT_PAGE : null;
  showGalleryEnd();
}
function clearGallery() {
  $("gallery").textContent = "";
  showRecTile();
}
function showGalleryEnd() {
  $("more").textContent = gal.before === null
    ? ($("gallery").querySelector(".tile:not(.rec)") ? "That is all." : "Nothing here yet.")
    : "Loading more…";
}
function placeTile(day, tile) {
  const gallery = $("gallery");
  let group = gallery.lastElementChild;
  if (!group || group.dataset.day !== day) {
    group = gEl("div");
    group.dataset.day = day;
    group.append(gEl("div", "day", day), gEl("div", "grid"));
    gallery.append(group);
  }
  group.lastElementChild.append(tile);
}

// ---------- tiles ----------
// Badges sit in one line along the top and the bottom edge (never over the centre of the
// picture), each a solid dark label that ends in an ellipsis when the tile is narrow.
function makeTile(kind, thumbUrl, top, time, duration) {
  const tile = gEl("button", "tile");
  tile.type = "button";
  tile.dataset.kind = kind;
  if (thumbUrl) {
    const img = gEl("img");
    img.loading = "lazy"; img.decoding = "async"; img.alt = ""; img.src = thumbUrl;
    img.addEventListener("error", () => { img.remove(); tile.classList.add("nothumb"); });
    tile.append(img);
  } else {
    tile.classList.add("nothumb");
  }
  // Without a picture (a clip recovered after a crash) its time and duration fill the tile.
  const ph = gEl("span", "ph");
  ph.append(gEl("span", "ph-time", time), gEl("span", "ph-dur", duration || "no preview"));
  const topRow = gEl("span", "badges at-top");
  topRow.append(...top);
  const bottom = gEl("span", "badges at-bottom");
  bottom.append(gEl("span", "badge time", time));
  if (duration) bottom.append(gEl("span", "badge dur", duration));
  tile.append(ph, topRow, bottom, gEl("span", "check"));
  return tile;
}
function itemTile(item) {
  const top = [];
  if (BADGE_TEXT[item.kind]) top.push(gEl("span", `badge ${item.kind}`, BADGE_TEXT[item.kind]));
  if (item.uploaded) top.push(gEl("span", "badge uploaded", "Uploaded"));
  if (item.track) top.push(gEl("span", "badge gps", "GPS"));
  const dur = item.video ? durText(item.duration_s) : "";
  const tile = makeTile(item.kind, item.thumb_url, top, stampText(item.stamp), dur);
  tile.dataset.id = item.id;
  tile.setAttribute("aria-label", `${ITEM_KIND_TEXT[item.kind]} ${item.day} ${stampText(item.stamp)} ${dur}`);
  bindTile(tile, `i${item.id}`, [item], () => openItem(item));
  return tile;
}
function incidentTile(d) {
  const inc = d.incident;
  const moment = d.items[Math.min(1, d.items.length - 1)];  // the clip of the moment itself
  const n = d.items.length;
  const top = [gEl("span", `badge ${inc.kind}`, incidentText(inc)),
    d.recording ? gEl("span", "badge clips recording", "Recording…")  // more clips to come
      : gEl("span", "badge clips", `${n} clip${n === 1 ? "" : "s"}`)];
  const time = timeText(inc.wall_s * 1000);
  const tile = makeTile("incident", moment.thumb_url, top, time, durText(d.duration_s));
  tile.dataset.incident = inc.id;
  tile.dataset.incidentKind = inc.kind;
  tile.setAttribute("aria-label", `${incidentText(inc)} ${time}, ${durText(d.duration_s)}, `
    + (d.recording ? "still recording" : `${n} clips`));
  bindTile(tile, `e${inc.id}`, d.items, () => openIncident(d));
  return tile;
}
function bindTile(tile, key, items, open) {
  tile.dataset.key = key;
  tile.classList.toggle("selected", gal.selected.has(key));
  if (gal.selecting) tile.setAttribute("aria-pressed", String(gal.selected.has(key)));
  tile.addEventListener("click", () => {
    if (!gal.selecting) { open(); return; }
    if (gal.selected.has(key)) gal.selected.delete(key); else gal.selected.set(key, items);
    tile.classList.toggle("selected", gal.selected.has(key));
    tile.setAttribute("aria-pressed", String(gal.selected.has(key)));
    showSelection();
  });
}

// ---------- the clip being recorded ----------
function showRecTile() {
  // Between two clips the snapshot may name no segment for a moment: the tile stays.
  const want = gal.view === "loop" && !gal.day && !!status
    && (!!status.segment || status.state === "recording");
  let group = $("rec-group");
  if (!want) { if (group) group.remove(); return; }
  if (!group) {
    group = gEl("div");
    group.id = "rec-group";
    const tile = makeTile("rec", null, [gEl("span", "badge rec", "REC")], "", "");
    tile.id = "rec-tile";
    tile.classList.add("rec");
    tile.setAttribute("aria-label", "Recording now: open the live view");
    tile.addEventListener("click", () => { location.hash = "#live"; });
    group.append(gEl("div", "day", "Recording now"), gEl("div", "grid"));
    group.lastElementChild.append(tile);
    $("gallery").prepend(group);
  }
  tickRecTile();
}
function tickRecTile() {
  const tile = $("rec-tile");
  if (!tile || !status || !status.segment) return;
  const elapsed = (status.segment_elapsed_s || 0) + (performance.now() - statusAt) / 1000;
  tile.querySelector(".ph-time").textContent = clock(elapsed);
  // When it started, on the appliance's clock (the gallery shows times, never clip numbers).
  const startMs = status.clock_ms + performance.now() - statusAt - elapsed * 1000;
  tile.querySelector(".ph-dur").textContent = `started ${timeText(Math.round(startMs / 1000) * 1000)}`;
}
setInterval(tickRecTile, 250);
document.addEventListener("dashcam:status", (e) => {
  showGalleryCounts(e.detail.counts);
  if (!$("tab-gallery").hidden) showRecTile();
});

// ---------- views and filters ----------
for (const chip of document.querySelectorAll("#views .chip")) {
  chip.addEventListener("click", () => {
    gal.view = chip.dataset.kind;
    for (const c of document.querySelectorAll("#views .chip")) c.setAttribute("aria-pressed", String(c === chip));
    $("event-kinds").hidden = gal.view !== "events";
    $("day").hidden = gal.view === "events";
    $("view-note").textContent = VIEW_NOTE[gal.view];
    reloadGallery(true);
  });
}
$("view-note").textContent = VIEW_NOTE[gal.view];
for (const chip of document.querySelectorAll("#event-kinds .chip")) {
  chip.addEventListener("click", () => {
    gal.eventKind = chip.dataset.ikind;
    for (const c of document.querySelectorAll("#event-kinds .chip")) c.setAttribute("aria-pressed", String(c === chip));
    reloadGallery(true);
  });
}
$("day").addEventListener("change", () => { gal.day = $("day").value; reloadGallery(true); });
const moreSeen = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && !$("tab-gallery").hidden) loadMore(false);
}, { rootMargin: "400px" });
moreSeen.observe($("more"));

// ---------- multi-select ----------
function selectedItems() { return [...gal.selected.values()].flat(); }
function setSelecting(on) {
  gal.selecting = on;
  gal.selected.clear();
  $("select-mode").setAttribute("aria-pressed", String(on));
  $("select-mode").textContent = on ? "Done" : "Select";
  $("selbar").hidden = !on;
  $("gallery").classList.toggle("selecting", on);
  for (const t of document.querySelectorAll("#gallery .tile.selected")) t.classList.remove("selected");
  for (const t of document.querySelectorAll("#gallery .tile:not(.rec)")) {
    if (on) t.setAttribute("aria-pressed", "false"); else t.removeAttribute("aria-pressed");
  }
  showSelection();
  if (!on && galleryStale) reloadGallery();
}
function showSelection() {
  const items = selectedItems();
  $("sel-count").textContent = `${items.length} selected`;
  const zip = $("sel-zip");
  if (items.length) zip.href = `/api/items.zip?ids=${items.map((i) => i.id).join(",")}`;
  else zip.removeAttribute("href");
  const none = items.length ? null : "Tap clips or photos to select them first.";
  block(zip, "none", none);
  block($("sel-protect"), "none", none || (items.some((i) => i.kind === "loop") ? null
    : "Everything selected is already saved."));
  block($("sel-delete"), "none", none);
  // Said once, under the bar, for the controls that are off (a touch screen shows no title).
  $("sel-why").textContent = none || $("sel-protect").dataset.why || "";
}
// The zip is the browser's own download (it shows the progress: the ZIP's length is known
// before its first byte); the page says what it holds and how big it is, asked of the
// server by a second request for the same ZIP, dropped once its headers are in.
function countText(items) {
  const n = (k) => items.filter((i) => (k === "photo") === (i.kind === "photo")).length;
  const part = (c, word) => (c ? `${c} ${word}${c === 1 ? "" : "s"}` : "");
  return [part(n("clip"), "clip"), part(n("photo"), "photo")].filter(Boolean).join(" and ");
}
$("sel-zip").addEventListener("click", async () => {
  const items = selectedItems(), url = $("sel-zip").href;
  if (!items.length || !url) return;
  const what = `Downloading a zip of ${countText(items)}`;
  $("sel-msg").textContent = `${what}…`;
  const stop = new AbortController();
  try {
    const r = await fetch(url, { signal: stop.signal });
    const length = Number(r.headers.get("Content-Length"));
    stop.abort();
    if (r.status === 401) { toLogin(); return; }
    $("sel-msg").textContent = r.ok
      ? `${what}, ${bytes(length)}: your browser shows its progress and where it is saved.`
      : `The zip could not be made (HTTP ${r.status}).`;
  } catch (e) {
    $("sel-msg").textContent = `${what}: no answer from the dashcam.`;
  }
});
// Each item on its own with the existing endpoints; then one summary of what worked.
async function eachItem(items, verb, call) {
  const failed = [];
  let done = 0;
  for (const item of items) {
    try { await call(item); done++; } catch (e) { failed.push(`${item.name}: ${e.message}`); }
  }
  const text = `${verb} ${done} of ${items.length}` + (failed.length ? `; failed: ${failed.join("; ")}` : "");
  $("sel-msg").textContent = text;
  toast(text, failed.length ? (done ? "warn" : "error") : "ok");
  galleryStale = true;
  setSelecting(false);  // and reload
}
$("select-mode").addEventListener("click", () => setSelecting(!gal.selecting));
$("sel-protect").addEventListener("click", () => {
  const items = selectedItems().filter((i) => i.kind === "loop");
  eachItem(items, "Protected", (i) => api("PUT", `/api/items/${i.id}/protection`));
});
$("sel-delete").addEventListener("click", () => {
  const items = selectedItems();
  if (!items.length || !confirm(`Delete ${items.length} file${items.length === 1 ? "" : "s"}? This cannot be undone.`)) return;
  eachItem(items, "Deleted", (i) => api("DELETE", `/api/items/${i.id}`));
});

// ---------- player ----------
// A clip, or an incident's clips as one, is one ordinary MP4 the appliance makes on the fly
// (/api/items/N/video.mp4, /api/incidents/N/video.mp4): every browser knows its whole length
// from the first bytes and seeks anywhere; the incident's time line is drawn by timeline.js.
function showPlayer(mode, title) {
  const video = $("video");
  video.pause();
  $("player").dataset.mode = mode;
  $("player-title").textContent = title;
  $("item-actions").hidden = mode !== "item";
  $("incident-actions").hidden = mode !== "incident";
  $("player-part").hidden = mode !== "incident";
  $("export-msg").textContent = "";  // the last export's words belong to the last incident
  drawTimeline(null);
  if (!$("player").open) $("player").showModal();
}
function openItem(item) {
  gal.open = { item };
  const dur = item.video && item.duration_s != null ? ` · ${durText(item.duration_s)}` : "";
  showPlayer("item", `${item.day} ${stampText(item.stamp)} · ${ITEM_KIND_TEXT[item.kind]}${dur} · ${bytes(item.size)}`);
  const video = $("video"), still = $("still");
  video.hidden = !item.video; still.hidden = item.video;
  if (item.video) {
    video.src = `/api/items/${item.id}/video.mp4`;
  } else {
    video.removeAttribute("src"); video.load();
    still.src = item.url;
  }
  $("download").href = item.download_url;
  $("item-protect").hidden = item.kind === "photo";
  $("item-protect").textContent = item.kind === "protected" ? "Unprotect" : "Protect";
  emit("dashcam:player", { item, box: $("player-extra") });
}
function incidentTitle(d) {
  const n = d.items.length;
  const more = d.recording ? "+" : "";
  const dur = d.timeline ? d.timeline.duration_s : d.duration_s;
  return `${incidentText(d.incident)} · ${timeText(d.incident.wall_s * 1000)} · ${durText(dur)}${more} · ${n}${more} clip${n === 1 && !more ? "" : "s"}`;
}
function openIncident(d) {
  gal.open = { incident: d.incident, items: d.items, index: -1, detail: d, exported: null, file: null,
    exportWhenDone: false };
  showPlayer("incident", incidentTitle(d));
  $("video").hidden = false; $("still").hidden = true;
  resetExport();
  loadIncidentVideo(d, momentStart(d.timeline), false);
  showProgress();
  if (d.recording) followIncident(gal.open);
}
// Load the incident's one video at ``at`` seconds (its moment, or where the playhead was).
function loadIncidentVideo(d, at, play) {
  const video = $("video"), o = gal.open;
  o.startAt = at;
  o.index = -1;
  // The clips in the address: an incident that grew is a new file to the media cache.
  video.src = `${d.video_url}?v=${d.items.map((i) => i.seq).join("-")}`;
  drawTimeline(d.timeline);
  showClip(itemAt(d, at));
  if (play) video.play().catch(() => {});
}
$("video").addEventListener("loadedmetadata", () => {
  const o = gal.open;
  if (!o || !o.incident || o.startAt == null) return;
  const at = o.startAt;
  o.startAt = null;
  if (at > 0) $("video").currentTime = at;
});
function showClip(index) {  // "clip 2 of 3", and the clip's extras (its track) in the player
  const o = gal.open;
  if (!o || !o.incident || o.index === index || !o.items[index]) return;
  o.index = index;
  $("video").dataset.clip = String(index + 1);
  showProgress();
  // The clip playing, and the incident it belongs to (track.js draws the incident's track).
  emit("dashcam:player", { item: o.items[index], box: $("player-extra"), items: o.items,
    timeline: o.detail.timeline });
}
// "clip 2 of 3", and for an incident in progress what is still being recorded.
function showProgress() {
  const o = gal.open;
  if (!o || !o.incident) return;
  const d = o.detail, n = d.items.length, item = d.items[Math.max(0, o.index)];
  let text = `Clip ${Math.max(0, o.index) + 1} of ${n}${momentWords(d.timeline, item)}`;
  if (d.recording) {
    const clips = d.recording.clips.length + (d.recording.awaits_next ? 1 : 0);
    const left = d.recording.left_s == null ? "" : ` · about ${durText(d.recording.left_s)} to go`;
    text += ` · still recording ${clips} more clip${clips === 1 ? "" : "s"}${left}`;
  }
  $("player-part").textContent = text;
  $("player-part").dataset.recording = d.recording ? "true" : "false";
}
// Where a clip stands to the moment: " · before the moment", " · the moment", " · after it".
function momentWords(tl, item) {
  const c = tl && item && tl.moment_s != null ? tl.clips.find((x) => x.seq === item.seq) : null;
  if (!c) return "";
  if (tl.moment_s < c.start_s) return " · after the moment";
  return tl.moment_s >= c.start_s + c.duration_s ? " · before the moment" : " · the moment";
}
$("video").addEventListener("timeupdate", () => {  // which clip the playhead is in
  const o = gal.open;
  if (!o || !o.incident || !o.detail.timeline) return;
  const t = $("video").currentTime;
  moveTimelineHead(t);
  if (o.startAt == null) showClip(itemAt(o.detail, t));
});
// The index in d.items of the clip playing at t seconds of the incident's video (a clip
// the video left out, of another picture size, is never "playing").
function itemAt(d, t) {
  if (!d.timeline || !d.timeline.clips.length) return 0;
  const seq = d.timeline.clips[clipAt(d.timeline, t)].seq;
  return Math.max(0, d.items.findIndex((i) => i.seq === seq));
}
// An incident in progress: its detail is asked again until complete; each clip that closes
// joins the video (reloaded where the playhead was), and a waiting export then starts.
async function followIncident(o) {
  const pause = () => new Promise((resolve) => setTimeout(resolve, 2000));
  while (gal.open === o && o.detail.recording) {
    await pause();
    if (gal.open !== o) return;
    let d;
    try { d = await api("GET", `/api/incidents/${o.incident.id}`); } catch (e) { continue; }
    if (gal.open !== o) return;
    const grew = d.items.length !== o.items.length;
    o.detail = d; o.items = d.items; o.incident = d.incident;
    $("player-title").textContent = incidentTitle(d);
    if (grew) {  // where the playhead is (or was about to go, if not there yet)
      const video = $("video");
      loadIncidentVideo(d, o.startAt != null ? o.startAt : video.currentTime, !video.paused);
    }
    showProgress();
  }
  if (gal.open === o) {
    resetExport();
    if (o.exportWhenDone) runExport(o);
  }
}
function closePlayer() {
  const video = $("video");
  video.pause(); video.removeAttribute("src"); video.load();
  gal.open = null;
  $("player").close();
}
$("player-close").addEventListener("click", closePlayer);
$("player").addEventListener("cancel", (ev) => { ev.preventDefault(); closePlayer(); });
$("item-delete").addEventListener("click", async () => {
  const item = gal.open && gal.open.item;
  if (!item || !confirm(`Delete ${item.name}? This cannot be undone.`)) return;
  try { await api("DELETE", `/api/items/${item.id}`); closePlayer(); reloadGallery(); toast(`Deleted ${item.name}`); }
  catch (e) { toast(e.message, "error"); }
});
$("item-protect").addEventListener("click", async () => {
  const item = gal.open && gal.open.item;
  if (!item) return;
  const protect = item.kind !== "protected";
  try {
    await api(protect ? "PUT" : "DELETE", `/api/items/${item.id}/protection`);
    closePlayer(); reloadGallery();
    toast(protect ? `Protected ${item.name}` : `${item.name} back in the loop`);
  } catch (e) { toast(e.message, "error"); }
});

// ---------- export and share (an incident as one plain MP4) ----------
function resetExport() {
  const o = gal.open, waiting = Boolean(o && o.detail && o.detail.recording);
  const btn = $("export");
  btn.disabled = false;
  btn.classList.add("primary");
  btn.textContent = waiting ? "Export when recorded" : "Export";
  btn.title = waiting ? "Its last clip is still being recorded: the export starts when it closes" : "";
  $("export-download").classList.remove("primary");
  $("export-download").hidden = true;
  $("export-bundle").hidden = true;
  $("export-share").hidden = true;
}
$("export").addEventListener("click", () => {
  const o = gal.open;
  if (!o || !o.incident) return;
  if (o.detail.recording) {  // it waits for the last clip, and says so
    o.exportWhenDone = true;
    $("export").disabled = true;
    const left = o.detail.recording.left_s;
    $("export-msg").textContent = "The export starts when the last clip is recorded"
      + (left == null ? "." : ` (about ${durText(left)}).`);
    return;
  }
  runExport(o);
});
async function runExport(o) {
  const btn = $("export");
  btn.disabled = true;
  btn.setAttribute("aria-busy", "true");
  $("export-msg").textContent = "Making one MP4…";
  try {
    const r = await api("POST", `/api/incidents/${o.incident.id}/export`);
    if (gal.open !== o) return;
    o.exported = r;
    const link = $("export-download");
    link.href = r.url; link.download = r.name; link.hidden = false;
    link.classList.add("primary"); btn.classList.remove("primary");  // the next step: keep it
    const bundle = $("export-bundle");
    bundle.href = r.bundle_url; bundle.download = r.name.replace(/\.mp4$/, ".zip"); bundle.hidden = false;
    $("export-msg").textContent = `Ready: ${r.name} · ${bytes(r.size)}`;
    // Share only where the phone can share files (a small probe: the file is fetched on tap).
    const probe = new File([new Uint8Array(8)], r.name, { type: "video/mp4" });
    $("export-share").hidden = !(navigator.canShare && navigator.share && navigator.canShare({ files: [probe] }));
    $("incident-actions").scrollIntoView({ block: "nearest" });
    $("export-msg").scrollIntoView({ block: "nearest" });
  } catch (e) {
    if (gal.open === o) $("export-msg").textContent = `Export failed: ${e.message}`;
  } finally {
    btn.removeAttribute("aria-busy");
    btn.disabled = false;
  }
}
$("export-share").addEventListener("click", async () => {
  const o = gal.open;
  if (!o || !o.exported) return;
  try {
    if (!o.file) {
      $("export-msg").textContent = "Preparing to share…";
      const r = await fetch(o.exported.url);
      if (!r.ok) throw new Error(r.statusText);
      o.file = new File([await r.blob()], o.exported.name, { type: "video/mp4" });
    }
    if (!navigator.canShare({ files: [o.file] })) { $("export-share").hidden = true; return; }
    await navigator.share({ files: [o.file], title: o.exported.name });
    $("export-msg").textContent = `Shared ${o.exported.name}`;
  } catch (e) {
    // The phone may want a fresh tap after the download (the file is kept for it).
    if (e.name === "NotAllowedError") $("export-msg").textContent = "Ready: tap Share again";
    else if (e.name !== "AbortError") $("export-msg").textContent = `Share failed: ${e.message}`;
  }
});
