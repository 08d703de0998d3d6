// A product picture that fails to load (a catalog's URL that is gone) shows the local
// placeholder instead: every <img data-fallback="..."> gets it on error. A script file rather
// than onerror attributes, which the Content-Security-Policy does not run. Loaded in <head>
// without defer, so the listener is there before the first picture can fail.
(function () {
  "use strict";
  // Error events do not bubble, but the document sees them on their way down.
  document.addEventListener(
    "error",
    function (event) {
      var img = event.target;
      if (!(img instanceof HTMLImageElement) || !img.dataset.fallback) return;
      var fallback = new URL(img.dataset.fallback, document.baseURI).href;
      if (img.src !== fallback) img.src = fallback; // and never loop if it fails too
    },
    true
  );
})();
