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
      if (!ms) return;
      const at = new Date(ms);
      el.textContent = el.dataset.format === "time"
        ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
        : at.toLocaleString();
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
  let baseTitle = document.title;
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
    showArmed();
    attention();
  }
  function armedBefore() {
    try { return sessionStorage.getItem(ARMED_KEY) === "1"; } catch (e) { return false; }
  }
  function rearm() {
    // Armed on an earlier console page of this tab: arm again if the browser lets this page
    // play sound (a silent try); else the button asks for a click, as on the first page.
    const probe = new Audio("/console/sound/alarm.wav");
    probe.volume = 0;
    probe.play().then(() => { probe.pause(); arm(); }).catch(() => {
      const toggle = document.getElementById("sound-toggle");
      if (toggle && !armed) toggle.textContent = "click to re-arm the alarm sound";
    });
  }
  // On console pages every click arms (once) and retries a sound the browser refused.
  document.addEventListener("click", () => {
    if (!body.dataset.live) return;  // not on the login page
    arm();
    attention();
  }, { capture: true });

  // -- live updates ---------------------------------------------------------------------------
  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      if (window.htmx) window.htmx.trigger(body, "lg-refresh");
    }, 30);
  }
  let liveText = null;
  let liveOk = false;
  function setLive(text, ok) {
    liveText = text;
    liveOk = ok;
    const el = document.getElementById("live");
    if (el) {
      el.textContent = text;
      el.classList.toggle("down", !ok);
    }
  }
  let leaving = false;
  document.addEventListener("submit", (e) => {
    if (e.target instanceof HTMLFormElement && e.target.action.endsWith("/logout")) leaving = true;
  });
  // arc_link: the ARC link went down or came back: the banner (the red console alarm) follows.
  const KINDS = ["alarm", "session", "device", "notification", "alarm_notification", "resync", "message", "arc_link"];
  function connect() {
    const source = new EventSource("/console/stream");
    source.onopen = () => { setLive("live", true); refresh(); };  // after a hub restart too
    source.addEventListener("logged_out", () => {
      // The login ended (expired, disabled, new password, logged out elsewhere): to the login
      // page, unless this page is logging out itself (its form goes there already).
      source.close();
      setLive("logged out", false);
      if (!leaving) window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
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

  function showArmed() {
    const toggle = document.getElementById("sound-toggle");
    if (toggle && armed) {
      toggle.textContent = "alarm sound armed";
      toggle.classList.remove("off");
    }
  }
  function fillTimezones(root) {
    const offset = new Date().getTimezoneOffset();
    root.querySelectorAll("input[name=tz_offset_min]").forEach((el) => {
      el.value = String(offset);
    });
    // A form that shows stored times (changing a visit): the same times, in local time.
    root.querySelectorAll("input[type=datetime-local][data-ms]").forEach((el) => {
      const ms = Number(el.dataset.ms);
      if (ms) el.value = new Date(ms - offset * 60000).toISOString().slice(0, 16);
    });
  }

  // A "copy link" button copies the field it names (a calendar feed's secret link).
  document.addEventListener("click", (e) => {
    const button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    field.select();
    const done = () => { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, () => { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    localize(document);
    tick();
    if (body.dataset.live && armedBefore()) rearm();
    attention();
    if (body.dataset.live) connect();
    fillTimezones(document);
  });
  document.addEventListener("htmx:afterSwap", (e) => {
    // Also a page reached from the menu (boosted): same document, same sound, same stream.
    if (!flashTimer) baseTitle = document.title;
    localize(e.target);
    fillTimezones(e.target);
    tick();
    showArmed();
    if (liveText !== null) setLive(liveText, liveOk);
    attention();
  });
  // The roll-call's print button (no inline handlers: the CSP allows only this file's script).
  document.addEventListener("click", (e) => {
    if (e.target instanceof Element && e.target.closest("[data-print]")) window.print();
  });
})();
