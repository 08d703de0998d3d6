// The search page's sort and strength apply as soon as they change: a form marked
// data-applies-on-change submits itself, and its button (for a browser without script) hides.
// A file rather than inline script, which the Content-Security-Policy does not run.
(function () {
  "use strict";
  document.querySelectorAll("form[data-applies-on-change]").forEach(function (form) {
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      button.hidden = true;
    });
    // "change", not "input": a slider being dragged submits once, where it is let go.
    form.addEventListener("change", function () {
      form.requestSubmit();
    });
  });
})();
