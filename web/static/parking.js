"use strict";
// The Live tab's parking card (#live-extra), from the status snapshot's `parking` (null while
// parking mode is off: no card). While parked: "Parked: watching" and the events so far.
// Back from parking: "3 events while parked" with a button per event that opens it in the
// player; dismissed per parking session on this phone (localStorage). "Park now" / "Leave
// parking" post to /api/parking, as the ignition going off or on does. With a battery monitor
// the card shows its voltage and the cut-off (GET /api/parking, every BATTERY_POLL_MS while
// the card is in view).
const PARKING_DISMISSED = "dashcam.parking.dismissed";
const BATTERY_POLL_MS = 10000;
const parkingView = { session: null, shown: "" };  // the session shown; its incidents' key

function parkingCard() {
  const card = document.createElement("div");
  card.className = "card parking";
  card.id = "parking";
  card.hidden = true;
  card.innerHTML = `
    <div class="cardhead"><span>Parking</span></div>
    <p id="parking-watch" class="parking-watch" role="status"></p>
    <div id="parking-return" class="parking-return" role="status" hidden>
      <p id="parking-summary" class="parking-summary"></p>
      <ul id="parking-events" class="parking-events"></ul>
      <button id="parking-dismiss" type="button" class="btn small">Dismiss</button>
    </div>
    <p id="parking-battery" class="note" hidden></p>
    <button id="park-toggle" type="button" class="btn">Park now</button>
    <p id="parking-msg" class="note" role="status"></p>`;
  $("live-extra").append(card);
  $("park-toggle").addEventListener("click", toggleParking);
  $("parking-dismiss").addEventListener("click", dismissParking);
  block($("park-toggle"), "link", "Connecting to the dashcam…");
}

const plural = (n, one) => `${n} ${one}${n === 1 ? "" : "s"}`;
function sessionKey(session) { return session ? String(session.ended_wall ?? session.started_wall) : ""; }
function dismissedKey() {
  try { return localStorage.getItem(PARKING_DISMISSED) || ""; } catch (e) { return parkingView.dismissed || ""; }
}

function showParking(s) {
  const p = s.parking;
  const card = $("parking");
  card.hidden = !p;
  if (!p) { delete document.documentElement.dataset.parked; return; }
  const parked = !!p.parked || s.state === "parked" || s.state === "parked_event";
  card.dataset.parked = String(parked);
  document.documentElement.dataset.parked = String(parked);  // not recording, on purpose
  const watch = $("parking-watch");
  watch.hidden = !parked;
  if (parked) {
    const what = s.state === "parked_event" ? "Parked: recording an event" : "Parked: watching";
    const since = p.since_wall ? ` since ${timeText(p.since_wall * 1000)}` : "";
    watch.textContent = `${what} · ${plural(p.events || 0, "event")}${since}`;
  }
  showReturn(parked ? null : p.last_session);
  const toggle = $("park-toggle");
  toggle.textContent = parked ? "Leave parking" : "Park now";
  toggle.dataset.parked = String(parked);
}

// The last parking session, once back: its events, each a button to its clip.
function showReturn(session) {
  const box = $("parking-return");
  const key = sessionKey(session);
  box.hidden = !session || key === dismissedKey();
  if (box.hidden) return;
  const n = session.events || 0;
  const when = session.started_wall && session.ended_wall
    ? ` (${timeText(session.started_wall * 1000)} to ${timeText(session.ended_wall * 1000)})` : "";
  $("parking-summary").textContent = n
    ? `${plural(n, "event")} while parked${when}` : `Nothing happened while parked${when}`;
  const ids = session.incidents || [];
  if (parkingView.shown === `${key}:${ids.join(",")}`) return;
  parkingView.shown = `${key}:${ids.join(",")}`;
  parkingView.session = session;
  listParkingEvents(ids).catch(() => {});
}
async function listParkingEvents(ids) {
  const list = $("parking-events");
  list.textContent = "";
  if (!ids.length) return;
  const known = new Map((await api("GET", "/api/incidents")).map((i) => [i.id, i]));
  list.textContent = "";
  ids.forEach((id, n) => {
    const inc = known.get(id);
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn small";
    b.dataset.incident = id;
    b.textContent = inc ? `Event ${n + 1} · ${timeText(inc.wall_s * 1000)}` : `Event ${n + 1}`;
    if (!inc) block(b, "gone", "This event's clips are no longer on the card.");
    b.addEventListener("click", () => openParkingEvent(id));
    li.append(b);
    list.append(li);
  });
}
async function openParkingEvent(id) {
  try {
    openIncident(await api("GET", `/api/incidents/${id}`));  // the Gallery's player
  } catch (e) {
    $("parking-msg").textContent = e.message;
  }
}
function dismissParking() {
  const key = sessionKey(parkingView.session);
  try { localStorage.setItem(PARKING_DISMISSED, key); } catch (e) { parkingView.dismissed = key; }
  $("parking-return").hidden = true;
}

async function refreshBattery() {
  if ($("parking").hidden || $("tab-live").hidden || document.hidden) return;
  let b = null;
  try { b = await api("GET", "/api/parking"); } catch (e) { return; }
  const line = $("parking-battery");
  line.hidden = b.battery_monitor === "none";
  line.textContent = b.battery_v == null ? "Battery: no reading yet."
    : `Battery ${b.battery_v.toFixed(1)} V · parking ends below ${b.cutoff_v.toFixed(1)} V`;
}

async function toggleParking() {
  const toggle = $("park-toggle");
  const park = toggle.dataset.parked !== "true";
  const msg = $("parking-msg");
  block(toggle, "busy", "Asking the dashcam…");
  try {
    await api("POST", "/api/parking", { parked: park });
    msg.textContent = park ? "Parking: the dashcam watches and records only when something happens."
      : "Leaving parking: recording again.";
  } catch (e) {
    msg.textContent = e.message;
  }
  block(toggle, "busy", null);
}

parkingCard();
document.addEventListener("dashcam:status", (ev) => showParking(ev.detail));
document.addEventListener("dashcam:link", (ev) => {
  block($("park-toggle"), "link", ev.detail.live ? null : "No connection to the dashcam.");
});
if (status) showParking(status);
setInterval(refreshBattery, BATTERY_POLL_MS);
new MutationObserver(() => refreshBattery()).observe($("parking"), { attributes: true,
  attributeFilter: ["hidden"] });
