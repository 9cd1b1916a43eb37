// Small things the site's pages do in the browser (no request to anything but the site itself).
//
// Wrapped code lines hang under their own start: with pymdownx.highlight's line_spans, every line
// of a code block is an element; its --hang is its leading spaces plus six, which extra.css uses
// as a hanging indent when a long line wraps.
(function () {
  function hangCodeLines(root) {
    root.querySelectorAll('pre > code > span[id^="__span"]').forEach(function (line) {
      var lead = /^ */.exec(line.textContent)[0].length;
      line.style.setProperty("--hang", (lead + 6) + "ch");
    });
  }
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(function () { hangCodeLines(document); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { hangCodeLines(document); });
  }
})();
