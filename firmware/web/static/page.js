// The device web page's only script (a static file: the page's CSP allows no inline script).
// - Keeps parts of the page current: each element with data-live-kinds ("token:smtp job ...")
//   is fetched again from its data-live-src when the device reports such an event on /events.
// - Counts down the time left of a user code between two updates.
// - Takes settings changed elsewhere into the fields the administrator has not touched.
// - Shows a provider's server presets as soon as it is chosen (the device applies them on save).
"use strict";

(function () {
  function restartCountdowns(root) {
    root.querySelectorAll(".time-left[data-seconds]").forEach(function (el) {
      var end = Date.now() + 1000 * Number(el.dataset.seconds);
      if (el._timer) { clearInterval(el._timer); }
      function tick() {
        var left = Math.max(0, Math.round((end - Date.now()) / 1000));
        el.textContent = left > 0 ? Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0")
                                  : el.dataset.expired;
        if (left <= 0) { clearInterval(el._timer); }
      }
      el._timer = setInterval(tick, 1000);
    });
  }

  function refresh(el, seq) {
    fetch(el.dataset.liveSrc, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) {
        if (r.status === 401) { location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var box = document.createElement("div");
        box.innerHTML = html;  // drawn by the device's own templates, every value escaped
        var fresh = box.firstElementChild;
        if (fresh && fresh.dataset.liveSrc === el.dataset.liveSrc) {
          fresh.dataset.seq = String(seq);
          el.replaceWith(fresh);
          restartCountdowns(fresh);
        } else {
          el.innerHTML = html;
          el.dataset.seq = String(seq);
          restartCountdowns(el);
        }
      });
  }

  function matches(el, kind, data) {
    var wanted = (el.dataset.liveKinds || "").split(" ");
    return wanted.indexOf(kind) >= 0 || (data.store && wanted.indexOf(kind + ":" + data.store) >= 0);
  }

  function settingsChanged(form) {
    fetch(form.dataset.values, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (values) {
        if (!values) { return; }
        var taken = false;
        Object.keys(values).forEach(function (name) {
          var field = form.elements[name];
          if (!field || field.dataset.loaded === undefined) { return; }
          if (field.value === field.dataset.loaded && field.value !== values[name]) {
            field.value = values[name];
            taken = true;
          }
          field.dataset.loaded = values[name];
        });
        var note = document.getElementById("changed-elsewhere");
        if (taken && note) { note.hidden = false; }
      });
  }

  function listen() {
    var url = document.body.dataset.events;
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    function handler(kind) {
      return function (message) {
        var data = JSON.parse(message.data);
        document.querySelectorAll("[data-live-kinds]").forEach(function (el) {
          if (matches(el, kind, data)) { refresh(el, data.seq); }
        });
        var form = document.getElementById("settings-form");
        if (kind === "settings" && form && form.dataset.section === data.section) {
          settingsChanged(form);
        }
      };
    }
    ["token", "settings", "job", "received", "printed", "refused", "alert"].forEach(function (kind) {
      source.addEventListener(kind, handler(kind));
    });
    source.addEventListener("ended", function () { source.close(); location.reload(); });
    // A page left (or kept in the back/forward cache) must not hold its connection: browsers
    // allow a few per device, and a stream left open would block the next page.
    window.addEventListener("pagehide", function () { source.close(); }, {once: true});
  }

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { location.reload(); }  // back from the cache: draw it anew
  });

  function presets() {
    var select = document.querySelector("select[data-presets]");
    if (!select) { return; }
    var table = JSON.parse(select.dataset.presets);
    select.addEventListener("change", function () {
      var preset = table[select.value];
      if (!preset) { return; }
      ["server", "port", "security"].forEach(function (name) {
        var field = select.form.elements[name];
        if (field) { field.value = preset[name]; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    restartCountdowns(document);
    presets();
    listen();
  });
})();
