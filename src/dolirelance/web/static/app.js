// dolirelance pages: "tous / aucun" buttons and the progress of a mass follow-up.
// Served as a file (no inline script) so the Content-Security-Policy can stay "default-src 'self'".
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.tick").forEach(function (button) {
    button.addEventListener("click", function () {
      var on = button.dataset.on === "1";
      var selector = 'input[type="checkbox"][name="' + button.dataset.tick + '"]:not(:disabled)';
      document.querySelectorAll(selector).forEach(function (box) { box.checked = on; });
    });
  });

  var form = document.getElementById("mass-form");
  if (form) {
    form.addEventListener("submit", function () {
      var run = document.getElementById("run-mass");
      if (run) { run.disabled = true; }
    });
  }

  var progress = document.getElementById("progress");
  if (progress) {
    var url = progress.dataset.statusUrl;
    var poll = function () {
      fetch(url, { credentials: "same-origin" })
        .then(function (answer) { return answer.json(); })
        .then(function (status) {
          var bar = progress.querySelector("progress");
          var count = progress.querySelector(".count");
          if (bar) { bar.value = status.done; }
          if (count) { count.textContent = status.done + " / " + status.total; }
          if (status.finished) { window.location.reload(); } else { window.setTimeout(poll, 500); }
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    };
    window.setTimeout(poll, 300);
  }
});
