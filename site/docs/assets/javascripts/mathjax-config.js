// MathJax 2.7.9 configuration, read by assets/mathjax/MathJax.js when it loads (it must load after
// this file). The MathJax files are this site's own, copied from the jupyter-server-mathjax wheel,
// which ships only the STIX-Web web fonts: hence the HTML-CSS font settings below.
//
// Arithmatex (generic mode) wraps every formula in an element of class "arithmatex" holding
// \( ... \) or \[ ... \]; only those elements are processed, so a "$" or "\(" in prose or code is
// never mistaken for math.
//
// A formula MathJax cannot parse is an error, not a silent fallback: noErrors/noUndefined are off,
// every TeX or processing error goes to console.error and to window.mathErrors, and
// <html data-math="done"> marks the end of typesetting (the browser test waits for it).
window.mathErrors = [];
window.MathJax = {
  config: ["TeX-AMS-MML_HTMLorMML-full.js"],
  messageStyle: "none",
  showMathMenu: true,
  tex2jax: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: false,
    processEnvironments: false,
    processRefs: false,
    ignoreClass: ".*",
    processClass: "arithmatex",
  },
  TeX: {
    noErrors: { disabled: true },
    noUndefined: { disabled: true },
  },
  MMLorHTML: { prefer: "HTML" },
  "HTML-CSS": {
    availableFonts: [],
    preferredFont: null,
    webFont: "STIX-Web",
    imageFont: null,
    linebreaks: { automatic: true },
    // MathJax probes web-font loading against a blank font at url(about:blank), which Chromium
    // refuses with a console error; a missing local font does the same job silently.
    styles: { "@font-face": { "font-family": "MathJax_Blank", src: "local('MathJax_Blank')" } },
  },
  "fast-preview": { disabled: true },
  AuthorInit: function () {
    var hub = MathJax.Hub;
    function report(kind) {
      return function (message) {
        var text = kind + ": " + String(message[1]) + (message[2] ? " in " + String(message[2]) : "");
        window.mathErrors.push(text);
        console.error(text);
      };
    }
    hub.Register.MessageHook("TeX Jax - parse error", report("TeX error"));
    hub.Register.MessageHook("Math Processing Error", report("MathJax error"));
    hub.Register.MessageHook("file load error", report("MathJax could not load"));
    hub.Register.StartupHook("End", function () {
      document.documentElement.setAttribute("data-math", "done");
    });
  },
};
