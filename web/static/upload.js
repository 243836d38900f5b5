"use strict";
// The Settings tab's "Upload" card (upload at home with rclone): the remote and this
// camera's folder (read only: the config file sets them), the state and progress, the last
// error, and "Upload now". /api/upload is polled only while the Settings tab is shown.
// In the player (#player-extra), a line says when the item was uploaded.
const UPLOAD_POLL_MS = 2000;
const UPLOAD_STATES = {
  off: "Off: no place to upload to is set up (see the manual: Getting the clips off the car)",
  waiting: "Waiting for an allowed network",
  uploading: "Uploading",
  idle: "Up to date",
  error: "Error",
};

function uploadCard() {
  const card = document.createElement("div");
  card.className = "card form upload";
  card.id = "upload";
  card.innerHTML = `
    <div class="cardhead"><span>Upload at home</span><span id="upload-state" class="mono" role="status">…</span></div>
    <dl class="upload-where">
      <dt>Remote</dt><dd id="upload-remote" class="mono">—</dd>
      <dt>This camera's folder</dt><dd id="upload-device" class="mono">—</dd>
    </dl>
    <div class="bar upload-bar"><span id="upload-progress" class="seg upload-done"></span></div>
    <p id="upload-detail" class="note"></p>
    <p id="upload-error" class="note upload-error" hidden></p>
    <button id="upload-now" type="button" class="btn">Upload now</button>
    <p id="upload-msg" class="note" role="status"></p>`;
  $("settings-extra").append(card);
  $("upload-now").addEventListener("click", uploadNow);
}

function showUpload(u) {
  const notStarted = u.state === "off" && u.remote;  // set, but rclone or the card failed
  $("upload-state").textContent = notStarted ? "Off (not started: dashcam doctor says why)"
    : UPLOAD_STATES[u.state] || u.state;
  $("upload").dataset.state = u.state;
  $("upload-remote").textContent = u.remote || "none";
  $("upload-device").textContent = u.device ? `${u.device}/` : "—";
  const share = u.total_bytes ? Math.min(1, u.sent_bytes / u.total_bytes) : (u.state === "idle" ? 1 : 0);
  $("upload-progress").style.width = `${Math.round(share * 100)}%`;
  const parts = [];
  if (u.current) parts.push(`${u.current}: ${bytes(u.sent_bytes)} of ${bytes(u.total_bytes)}`);
  if (u.state !== "off") parts.push(`${u.pending} to send, ${u.uploaded} sent`);
  if (u.last_success_wall) parts.push(`last arrived ${new Date(u.last_success_wall * 1000).toLocaleString()}`);
  $("upload-detail").textContent = parts.join(" · ");
  $("upload-error").hidden = !u.last_error;
  $("upload-error").textContent = u.last_error ? `Last error: ${u.last_error}` : "";
  block($("upload-now"), "off", u.state === "off" ? "Uploading is not set up on this dashcam." : null);
}

async function refreshUpload() {
  try {
    showUpload(await api("GET", "/api/upload"));
  } catch (e) {
    $("upload-msg").textContent = e.message;
  }
}

async function uploadNow() {
  const msg = $("upload-msg");
  block($("upload-now"), "busy", "Asking the dashcam…");
  try {
    showUpload(await api("POST", "/api/upload/now"));
    msg.textContent = "Looking for files to send.";
  } catch (e) {
    msg.textContent = e.message;
  }
  block($("upload-now"), "busy", null);
  refreshUpload();
}

// Poll while the Settings tab is shown and the page visible; stop otherwise.
let uploadTimer = null;
function followUpload() {
  const shown = !$("tab-settings").hidden && !document.hidden;
  if (shown && uploadTimer === null) {
    refreshUpload();
    uploadTimer = setInterval(refreshUpload, UPLOAD_POLL_MS);
  } else if (!shown && uploadTimer !== null) {
    clearInterval(uploadTimer);
    uploadTimer = null;
  }
}

uploadCard();
new MutationObserver(followUpload).observe($("tab-settings"), { attributes: true, attributeFilter: ["hidden"] });
document.addEventListener("visibilitychange", followUpload);
followUpload();

// The player says whether the item is safe at home (the API's "uploaded").
document.addEventListener("dashcam:player", (e) => {
  const { item, box } = e.detail;
  const old = box.querySelector(".upload-mark");
  if (old) old.remove();
  if (!item.uploaded) return;
  const mark = document.createElement("p");
  mark.className = "note upload-mark";
  mark.textContent = "Uploaded: a copy is safe at home.";
  box.prepend(mark);
});
