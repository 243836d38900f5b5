"use strict";
// The Gallery tab and the player.
let kindFilter = "";
let dayFilter = "";
let nextBefore = null;   // gallery cursor
let loading = false;
let current = null;      // the item open in the player
let galleryStale = true;

// ---------- gallery ----------
function reloadGallery() {
  galleryStale = false;
  nextBefore = null;
  $("gallery").textContent = "";
  loadDays();
  loadMore(true);
}
async function loadDays() {
  const data = await api("GET", "/api/days");
  const sel = $("day");
  const keep = sel.value;
  sel.length = 1;
  for (const d of data.days) sel.add(new Option(d, d));
  sel.value = data.days.includes(keep) ? keep : "";
}
async function loadMore(first) {
  if (loading || (!first && nextBefore === null)) return;
  loading = true;
  const q = new URLSearchParams({ limit: "30" });
  if (kindFilter) q.append("kind", kindFilter);
  if (dayFilter) q.set("day", dayFilter);
  if (!first && nextBefore !== null) q.set("before", String(nextBefore));
  try {
    const page = await api("GET", `/api/items?${q}`);
    for (const item of page.items) addTile(item);
    nextBefore = page.next_before;
    $("more").textContent = nextBefore === null
      ? ($("gallery").children.length ? "That is all." : "Nothing here yet.") : "Loading more…";
  } finally { loading = false; }
}
function addTile(item) {
  const gallery = $("gallery");
  let group = gallery.lastElementChild;
  if (!group || group.dataset.day !== item.day) {
    group = document.createElement("div");
    group.dataset.day = item.day;
    const h = document.createElement("div");
    h.className = "day"; h.textContent = item.day;
    const grid = document.createElement("div");
    grid.className = "grid";
    group.append(h, grid);
    gallery.append(group);
  }
  const tile = document.createElement("button");
  tile.type = "button"; tile.className = "tile"; tile.dataset.kind = item.kind;
  tile.dataset.id = item.id;
  if (item.thumb_url) {
    const img = document.createElement("img");
    img.loading = "lazy"; img.decoding = "async"; img.alt = item.name; img.src = item.thumb_url;
    tile.append(img);
  }
  const tag = document.createElement("span");
  tag.className = "tag";
  // Plain text, not emoji: the label must show whatever fonts the phone has.
  tag.textContent = `${item.kind === "photo" ? "photo" : item.kind === "protected" ? "protected" : "▶"} ${stampText(item.stamp)}`;
  tile.append(tag);
  tile.addEventListener("click", () => openItem(item));
  group.lastElementChild.append(tile);
}
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && !$("tab-gallery").hidden) loadMore(false);
}, { rootMargin: "400px" }).observe($("more"));
for (const chip of document.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => {
    kindFilter = chip.dataset.kind;
    for (const c of document.querySelectorAll(".chip")) c.setAttribute("aria-pressed", String(c === chip));
    reloadGallery();
  });
}
$("day").addEventListener("change", () => { dayFilter = $("day").value; reloadGallery(); });

// ---------- player ----------
function openItem(item) {
  current = item;
  $("player-title").textContent = `${item.day} ${stampText(item.stamp)} · ${item.kind} · ${bytes(item.size)}`;
  const video = $("video"), still = $("still");
  video.hidden = !item.video; still.hidden = item.video;
  if (item.video) { video.src = item.url; } else { still.src = item.url; }
  $("download").href = item.download_url;
  $("item-protect").hidden = item.kind === "photo";
  $("item-protect").textContent = item.kind === "protected" ? "Unprotect" : "Protect";
  emit("dashcam:player", { item, box: $("player-extra") });
  $("player").showModal();
}
function closePlayer() {
  const video = $("video");
  video.pause(); video.removeAttribute("src"); video.load();
  $("player").close();
}
$("player-close").addEventListener("click", closePlayer);
$("player").addEventListener("cancel", (ev) => { ev.preventDefault(); closePlayer(); });
$("item-delete").addEventListener("click", async () => {
  if (!current || !confirm(`Delete ${current.name}? This cannot be undone.`)) return;
  try { await api("DELETE", `/api/items/${current.id}`); closePlayer(); reloadGallery(); }
  catch (e) { alert(e.message); }
});
$("item-protect").addEventListener("click", async () => {
  if (!current) return;
  try {
    const item = await api(current.kind === "protected" ? "DELETE" : "PUT", `/api/items/${current.id}/protection`);
    closePlayer(); reloadGallery(); current = item;
  } catch (e) { alert(e.message); }
});
