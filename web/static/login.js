"use strict";
// The login form, in this phone's theme (core.js). Wrong passwords from one address are
// slowed down (429 with Retry-After): the form says how long, counts down and waits.
const form = $("login");
const submit = form.querySelector("button[type=submit]");
let waitTimer = null;
function say(text, kind = "") {
  $("msg").textContent = text;
  $("msg").dataset.kind = kind;
}
function waitFor(seconds) {
  clearInterval(waitTimer);
  const until = performance.now() + seconds * 1000;
  const step = () => {
    const left = Math.ceil((until - performance.now()) / 1000);
    if (left <= 0) {
      clearInterval(waitTimer);
      block(submit, "wait", null);
      say("You can try again now.");
      return;
    }
    block(submit, "wait", `Wait ${left} s.`);
    say(`Too many wrong passwords. To keep guessers out, the next try waits: ${left} s.`, "error");
  };
  step();
  waitTimer = setInterval(step, 250);
}
const WHY = {
  ended: "Your session has ended (the dashcam restarted, the password changed or it was"
    + " logged out elsewhere): log in again.",
  out: "Logged out.",
};
const why = new URLSearchParams(location.search).get("why");
if (WHY[why]) say(WHY[why]);
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  let r;
  try {
    r = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: form.elements.password.value }),
    });
  } catch (e) {
    say("No answer from the dashcam: is this phone on its Wi-Fi?", "error");
    return;
  }
  if (r.ok) location.replace("/");
  else if (r.status === 429) waitFor(Number(r.headers.get("Retry-After")) || 1);
  else if (r.status === 401) { say("Wrong password.", "error"); form.elements.password.select(); }
  else say(`The dashcam refused the login (HTTP ${r.status}).`, "error");
});
