// The live queue: timers tick every second; when htmx brings new leads or alerts, a sound
// and a browser notification tell the rep (if they switched it on; kept in localStorage).
(function () {
  "use strict";
  var KEY = "leadline.notify";
  var toggle = document.getElementById("notify-toggle");
  var seenLeads = null, seenAlerts = null;

  function on() { return window.localStorage.getItem(KEY) === "on"; }
  function label() {
    if (!toggle) return;
    toggle.textContent = "Sound & notifications: " + (on() ? "on" : "off");
    toggle.setAttribute("aria-pressed", on() ? "true" : "false");
  }
  if (toggle) {
    toggle.addEventListener("click", function () {
      window.localStorage.setItem(KEY, on() ? "off" : "on");
      if (on() && "Notification" in window && Notification.permission === "default") {
        Notification.requestPermission();
      }
      if (on()) beep();
      label();
    });
    label();
  }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.25);
    } catch (e) { /* no audio here */ }
  }

  function ids(el, name) {
    return (el.getAttribute(name) || "").split(" ").filter(Boolean);
  }

  function announce(queue) {
    var leads = ids(queue, "data-lead-ids"), alerts = ids(queue, "data-alert-ids");
    if (seenLeads !== null) {
      var fresh = leads.filter(function (id) { return seenLeads.indexOf(id) < 0; });
      var freshAlerts = alerts.filter(function (id) { return seenAlerts.indexOf(id) < 0; });
      fresh.forEach(function (id) {
        var row = queue.querySelector('tr[data-lead-id="' + id + '"]');
        if (row) row.classList.add("fresh");
      });
      if ((fresh.length || freshAlerts.length) && on()) {
        beep();
        if ("Notification" in window && Notification.permission === "granted") {
          var what = freshAlerts.length ? "New alert" : fresh.length + " new lead" + (fresh.length > 1 ? "s" : "");
          new Notification("Leadline: " + what, { body: "Your queue has changed." });
        }
      }
    }
    seenLeads = leads; seenAlerts = alerts;
  }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function span(seconds) {
    var s = Math.abs(Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    if (h >= 48) return Math.floor(h / 24) + " d";
    return h ? h + " h " + pad(m) + " min" : m + ":" + pad(s % 60);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".timer[data-since]").forEach(function (el) {
      el.textContent = span((now - Date.parse(el.dataset.since)) / 1000);
    });
    document.querySelectorAll(".timer[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now) / 1000;
      el.textContent = left >= 0 ? span(left) + " left" : span(left) + " late";
      el.classList.toggle("late", left < 0);
    });
  }

  var queue = document.getElementById("queue");
  if (queue) announce(queue);
  document.body.addEventListener("htmx:afterSettle", function () {
    var fresh = document.getElementById("queue");
    if (fresh) { announce(fresh); tick(); }
  });
  tick();
  window.setInterval(tick, 1000);
})();
