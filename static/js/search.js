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

// A click on a search result is counted for the list it was shown in. Without script the
// result's link carries the list's id and position (?impression=...&position=...) and the
// product page counts it; with script the link stays clean (for sharing and history) and the
// click is sent beside the navigation, with a request that outlives the page (keepalive).
(function () {
  "use strict";
  var list = document.querySelector("[data-clicks]");
  if (!list || !window.fetch) {
    return;
  }
  list.querySelectorAll("a[data-impression]").forEach(function (link) {
    var clean = link.href.split("?")[0];
    var click = JSON.stringify({
      impression: link.dataset.impression,
      position: Number(link.dataset.position),
      sku: link.closest("[data-sku]").dataset.sku,
    });
    var sent = false;
    link.href = clean;
    function send(event) {
      if (sent || (event.type === "auxclick" && event.button !== 1)) {
        return;
      }
      sent = true;
      fetch(list.dataset.clicks, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": list.dataset.csrf },
        body: click,
      }).catch(function () {});
    }
    link.addEventListener("click", send);
    link.addEventListener("auxclick", send);
  });
})();
