// loneguard console: live updates over SSE, countdowns, and an alarm nobody can miss.
(function () {
  "use strict";
  const body = document.body;
  const serverOffset = Number(body.dataset.nowMs || Date.now()) - Date.now();
  const now = () => Date.now() + serverOffset;

  // -- times and countdowns -------------------------------------------------------------------
  function localize(root) {
    root.querySelectorAll("time[data-ms]").forEach((el) => {
      const ms = Number(el.dataset.ms);
      if (ms) el.textContent = new Date(ms).toLocaleString();
    });
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    document.querySelectorAll(".countdown[data-due-ms]").forEach((el) => {
      const left = Math.round((Number(el.dataset.dueMs) - now()) / 1000);
      const s = Math.abs(left);
      const text = (s >= 3600 ? Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) : Math.floor(s / 60)) + ":" + pad(s % 60);
      el.textContent = left >= 0 ? text : "late " + text;
      el.classList.toggle("late", left < 0);
    });
  }
  setInterval(tick, 1000);

  // -- the alarm: colour, title flash, sound --------------------------------------------------
  const baseTitle = document.title;
  let flashTimer = null;
  let audio = null;
  let armed = false;
  function openAlarms() {
    const el = document.querySelector("#banner [data-open-alarms]");
    return el && el.dataset.openAlarms ? el.dataset.openAlarms.split(",") : [];
  }
  function attention() {
    const open = openAlarms();
    body.classList.toggle("alarming", open.length > 0);
    body.dataset.alarmIds = open.join(",");
    if (open.length > 0 && !flashTimer) {
      let on = false;
      flashTimer = setInterval(() => {
        on = !on;
        document.title = on ? "⚠ ALARM (" + openAlarms().length + ") ⚠" : baseTitle;
      }, 700);
    } else if (open.length === 0 && flashTimer) {
      clearInterval(flashTimer);
      flashTimer = null;
      document.title = baseTitle;
    }
    if (audio) {
      if (open.length > 0 && audio.paused) audio.play().catch(() => {});
      if (open.length === 0 && !audio.paused) audio.pause();
    }
  }
  const ARMED_KEY = "lg-alarm-sound-armed";  // kept for this tab while it stays in the console
  function arm() {
    if (armed) return;
    armed = true;
    try { sessionStorage.setItem(ARMED_KEY, "1"); } catch (e) { /* storage off: arm per page */ }
    audio = new Audio("/console/sound/alarm.wav");
    audio.loop = true;
    const toggle = document.getElementById("sound-toggle");
    if (toggle) {
      toggle.textContent = "alarm sound armed";
      toggle.classList.remove("off");
    }
    attention();
  }
  function armedBefore() {
    try { return sessionStorage.getItem(ARMED_KEY) === "1"; } catch (e) { return false; }
  }
  // Every click arms (once) and retries a sound the browser refused to start without one.
  document.addEventListener("click", () => { arm(); attention(); }, { capture: true });

  // -- live updates ---------------------------------------------------------------------------
  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      if (window.htmx) window.htmx.trigger(body, "lg-refresh");
    }, 30);
  }
  function setLive(text, ok) {
    const el = document.getElementById("live");
    if (el) {
      el.textContent = text;
      el.classList.toggle("down", !ok);
    }
  }
  const KINDS = ["alarm", "session", "device", "notification", "alarm_notification", "resync", "message"];
  function connect() {
    const source = new EventSource("/console/stream");
    source.onopen = () => { setLive("live", true); refresh(); };  // after a hub restart too
    source.addEventListener("logged_out", () => {
      // The login ended (logged out, expired, disabled, new password): off to the login page.
      source.close();
      setLive("logged out", false);
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    });
    KINDS.forEach((kind) => source.addEventListener(kind, refresh));
    source.onerror = () => {
      setLive("reconnecting…", false);
      if (source.readyState === EventSource.CLOSED) {
        refresh();  // a login that expired is sent to the login page by this request
        setTimeout(connect, 2000);  // the browser gave up (an error status): start again
      }
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    localize(document);
    tick();
    if (armedBefore()) arm();  // armed on an earlier console page of this tab
    attention();
    if (body.dataset.live) connect();
    document.querySelectorAll("input[name=tz_offset_min]").forEach((el) => {
      el.value = String(new Date().getTimezoneOffset());
    });
  });
  document.addEventListener("htmx:afterSwap", (e) => {
    localize(e.target);
    tick();
    attention();
  });
})();
