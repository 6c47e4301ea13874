// dolirelance pages: "tous / aucun" buttons, the mass page's totals, the quote picker, the progress
// of a mass follow-up, the report's figures when they come after the page. Served as a file (no
// inline script) so the CSP can stay "default-src 'self'".
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.tick").forEach(function (button) {
    button.addEventListener("click", function () {
      var on = button.dataset.on === "1";
      var selector = 'input[type="checkbox"][name="' + button.dataset.tick + '"]:not(:disabled)';
      document.querySelectorAll(selector).forEach(function (box) { box.checked = on; });
    });
  });

  // The count and total of the whole selection: listed by the server once the first screen is shown.
  var summary = document.getElementById("mass-summary");
  if (summary && summary.dataset.summaryUrl) {
    fetch(summary.dataset.summaryUrl, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var fill = { count: String(data.count), total: data.total_text, pages: " / " + data.pages };
        document.querySelectorAll("[data-fill]").forEach(function (node) { node.textContent = fill[node.dataset.fill]; });
        summary.dataset.loaded = "1";
        var page = Number(document.querySelector("input[name=page]") ? document.querySelector("input[name=page]").value : 1);
        var next = document.getElementById("next-page");
        if (next) { next.hidden = page >= data.pages; }
      })
      .catch(function () { /* the totals stay "counting…"; the rows are usable */ });
  }

  // Choosing a quote reloads the form for it: its recipient, and whether e-mail is possible. With a
  // mouse or a finger on choosing; from the keyboard on Enter, so that arrow keys can go through the list.
  var picker = document.getElementById("quote");
  if (picker && picker.dataset.reload) {
    var byKeyboard = false;
    var go = function () {
      if (!picker.value) { return; }
      var base = picker.dataset.reload;
      window.location.assign(base + (base.indexOf("?") < 0 ? "?" : "&") + "quote=" + encodeURIComponent(picker.value));
    };
    picker.addEventListener("pointerdown", function () { byKeyboard = false; });
    picker.addEventListener("keydown", function (event) {
      byKeyboard = true;
      if (event.key === "Enter") { event.preventDefault(); go(); }
    });
    picker.addEventListener("change", function () { if (!byKeyboard) { go(); } });
  }

  var form = document.getElementById("mass-confirm");
  if (form) {
    form.addEventListener("submit", function () {
      var run = document.getElementById("confirm-mass");
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

  // The report's figures, when the page answered before they were read: they replace the notice.
  var figures = document.getElementById("report-figures");
  if (figures && figures.dataset.figuresUrl) {
    fetch(figures.dataset.figuresUrl, { credentials: "same-origin" })
      .then(function (answer) { return answer.text(); })
      .then(function (text) {
        var parsed = new DOMParser().parseFromString(text, "text/html").getElementById("report-figures");
        if (parsed) { figures.replaceWith(document.adoptNode(parsed)); }
      })
      .catch(function () { figures.removeAttribute("aria-busy"); });
  }
});
