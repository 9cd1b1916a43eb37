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
// <html data-math="done"> marks the end of typesetting and fitting (the browser test waits for it).
//
// Fitting formulas to the column. MathJax's automatic line breaking is off for the first pass: left
// on, it breaks inline math in table headers and narrow cells, and splits display formulas where
// they need not be split. After typesetting, fitMath() looks at every display formula (and every
// inline formula outside a table) that is wider than its column:
//   1. if shrinking it to no less than MIN_SCALE of its size makes it fit, it is shrunk (a formula
//      a few percent too wide stays on one line at desktop widths);
//   2. otherwise it is typeset again with line breaking on, steered by steerBreaks(): never at
//      punctuation, a bracket, a thin space or an invisible operator (no lone "." or "(r/β)." on
//      a line of its own), preferably at \qquad and at relations such as "=";
//   3. an aligned/gathered block, whose rows MathJax cannot break, is shown instead as its rows,
//      one formula per row, each of which may break;
//   4. whatever is still too wide is shrunk to fit (never below MIN_SCALE_LAST).
// It runs again when the window is resized; <html data-math-fit="WIDTH"> says for which width the
// page was last fitted.
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
    linebreaks: { automatic: false, width: "container" },
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
    hub.Register.StartupHook("HTML-CSS multiline Ready", steerLineBreaker);
    hub.Register.StartupHook("End", function () {
      fitMath(function () { document.documentElement.setAttribute("data-math", "done"); });
      var timer = null;
      window.addEventListener("resize", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {  // only a new width matters (not a phone's toolbar coming and going)
          if (String(window.innerWidth) !== document.documentElement.getAttribute("data-math-fit")) fitMath(function () {});
        }, 150);
      });
    });
  },
};

// --- where a long formula may break ---------------------------------------------------------
//
// MathJax 2's own attributes cannot steer this: at the top nesting level its penalty for
// linebreak="nobreak" works out as 0 (it is multiplied by the nesting depth), making it the
// preferred break, and goodbreak/badbreak change nothing there. So steerBreaks() marks operators
// and spaces with its own property, and the wrappers below (installed when MathJax loads its line
// breaker, steerLineBreaker) never break at "never" and favour "good".

var NO_BREAK_AT = /^[.,;:!?()[\]{}|\u27e8\u27e9\u230a\u230b\u2308\u2309\u2016\u2223\u2225\u2061\u2062\u2063]$/;  // punctuation, brackets, \mid, invisible operators
var GOOD_BREAK_AT = /^[=<>\u2248\u2261\u2264\u2265\u221d\u223c\u2243\u2260\u21d2\u2192]$/;  // relations
var GOOD_BREAK_BONUS = 300;

function steerBreaks(node) {
  if (!node || typeof node !== "object" || !node.type) return;
  var MML = MathJax.ElementJax.mml;
  if (node.type === "mo") {
    var text = node.data.join("");
    if (NO_BREAK_AT.test(text) || node.texClass === MML.TEXCLASS.OPEN || node.texClass === MML.TEXCLASS.CLOSE) {
      node.courseBreak = "never";
    } else if (GOOD_BREAK_AT.test(text)) {
      node.courseBreak = "good";
    }
  } else if (node.type === "mspace") {
    // \quad and \qquad stand between two equations; thin spaces (\, \! \;) hold a formula together.
    node.courseBreak = /^\s*[12](\.\d+)?em\s*$/.test(String(node.width || "")) ? "good" : "never";
  }
  if (node.data) for (var i = 0; i < node.data.length; i++) steerBreaks(node.data[i]);
  if (node.type === "mrow" && node.data) {  // "=" starts a line and keeps what follows it there
    for (var j = 0; j + 1 < node.data.length; j++) {
      if (node.data[j] && node.data[j].courseBreak === "good" && node.data[j].type === "mo") neverBreakIn(node.data[j + 1]);
    }
  }
  if (node.type === "math") keepTailTogether(node);
}

// The last few atoms of a formula ("\big)." or "\qquad \beta > 0.") never go to a line of their own.
var TAIL_ATOMS = 4, SHORT_LAST_PART = 7;
function keepTailTogether(math) {
  var row = math.data[0];
  if (!row || !row.data) return;
  var atoms = row.data, from = Math.max(0, atoms.length - TAIL_ATOMS);
  for (var i = atoms.length - 1; i >= Math.max(0, atoms.length - SHORT_LAST_PART - 1); i--) {
    if (atoms[i] && atoms[i].type === "mspace" && atoms[i].courseBreak === "good") { from = Math.min(from, i + 1); break; }
  }
  for (var j = from; j < atoms.length; j++) neverBreakIn(atoms[j]);
}
function neverBreakIn(node) {
  if (!node || typeof node !== "object" || !node.type) return;
  if (node.type === "mo" || node.type === "mspace") node.courseBreak = "never";
  if (node.data) for (var i = 0; i < node.data.length; i++) neverBreakIn(node.data[i]);
}

function steerLineBreaker() {
  var MML = MathJax.ElementJax.mml;
  ["mo", "mspace"].forEach(function (type) {
    var proto = MML[type].prototype, original = proto.HTMLbetterBreak;
    proto.HTMLbetterBreak = function (info, state) {
      if (this.courseBreak === "never") {
        if (type === "mo") {  // keep MathJax's count of open brackets right
          var texClass = this.Get("texClass");
          if (texClass === MML.TEXCLASS.OPEN) info.nest++;
          if (texClass === MML.TEXCLASS.CLOSE && info.nest) info.nest--;
        }
        delete info.embellished;
        return false;
      }
      if (this.courseBreak !== "good") return original.call(this, info, state);
      info.penalty += GOOD_BREAK_BONUS;
      var better = original.call(this, info, state);
      info.penalty = Math.max(1, info.penalty - GOOD_BREAK_BONUS);
      return better;
    };
  });
}

// --- fitting formulas to the column -----------------------------------------------------------

var MIN_SCALE = 0.82;       // shrink rather than break down to this size
var MIN_SCALE_LAST = 0.55;  // the floor for what breaking could not fit

function mathBox(el) {
  return el.querySelector(".MathJax .math") || el.querySelector(".MathJax");
}

function overflow(el) {
  // How much wider the formula is than the room it has (px); <= 0 when it fits.
  var box = mathBox(el);
  if (!box) return 0;
  var block = el.tagName === "SPAN" ? el.parentElement.closest("p, li, dd, div, blockquote") : el;
  if (!block) return 0;
  var style = getComputedStyle(block);
  var room = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return box.getBoundingClientRect().width - room + 1;
}

function setScale(el, scale) {
  el.style.fontSize = scale < 1 ? (Math.floor(scale * 1000) / 10) + "%" : "";
}

function shrinkToFit(el, floor) {
  var over = overflow(el);
  if (over <= 0) return true;
  var width = mathBox(el).getBoundingClientRect().width;
  var scale = (width - over) / width;
  if (scale < floor) return false;
  setScale(el, scale);
  return true;
}

function texOf(el) {
  var jax = MathJax.Hub.getAllJax(el)[0];
  return jax ? jax.originalText : null;
}

// The rows of a formula that is one aligned/gathered block (and nothing else), or null.
function alignedRows(tex) {
  var m = /^\s*\\begin\{(aligned|gathered|align\*?|split)\}([\s\S]*)\\end\{\1\}\s*$/.exec(tex || "");
  if (!m || /\\begin\{/.test(m[2])) return null;  // a nested environment has rows of its own
  var rows = m[2].split(/\\\\(?:\[[^\]]*\])?/).map(function (r) { return r.replace(/&/g, " ").trim(); })
    .filter(function (r) { return r; });
  return rows.length > 1 ? rows : null;
}

function withLineBreaks(on) {
  return function () { MathJax.Hub.config["HTML-CSS"].linebreaks.automatic = on; MathJax.OutputJax["HTML-CSS"].config.linebreaks.automatic = on; };
}

function fitMath(done) {
  var hub = MathJax.Hub;
  var article = document.querySelector("article") || document.body;
  var width = String(window.innerWidth);
  var all = [].slice.call(article.querySelectorAll("div.arithmatex, span.arithmatex")).filter(function (el) {
    return !el.closest("table") && !el.closest(".arithmatex-rows");
  });
  var restore = [];
  // Undo what an earlier fit did: the original formula, unbroken and at full size.
  all.forEach(function (el) {
    if (el.nextElementSibling && el.nextElementSibling.classList.contains("arithmatex-rows")) {
      el.parentNode.removeChild(el.nextElementSibling);
      el.style.display = "";
    }
    setScale(el, 1);
    if (el.hasAttribute("data-broken")) { el.removeAttribute("data-broken"); restore.push(el); }
  });
  hub.Queue(function () {
    if (restore.length) return hub.Rerender(restore);
  });
  var toBreak = [], rowsOf = [];
  hub.Queue(function () {
    all.forEach(function (el) {
      if (shrinkToFit(el, MIN_SCALE)) return;
      var rows = el.tagName === "DIV" && alignedRows(texOf(el));
      if (rows) rowsOf.push([el, rows]);
      else toBreak.push(el);
    });
    var made = [];
    rowsOf.forEach(function (pair) {
      var el = pair[0], box = document.createElement("div");
      box.className = "arithmatex-rows";
      pair[1].forEach(function (row) {
        var div = document.createElement("div");
        div.className = "arithmatex";
        var script = document.createElement("script");
        script.type = "math/tex; mode=display";
        script.text = row;
        div.appendChild(script);
        box.appendChild(div);
        made.push(div);
      });
      el.style.display = "none";
      el.parentNode.insertBefore(box, el.nextSibling);
    });
    toBreak.forEach(function (el) { el.setAttribute("data-broken", ""); });
    toBreak.push.apply(toBreak, made);
  });
  hub.Queue(function () {  // the rows are new formulas: typeset them (unbroken) first
    var fresh = toBreak.filter(function (el) { return !el.querySelector(".MathJax"); });
    return fresh.length ? hub.Typeset(fresh) : null;
  });
  hub.Queue(function () {
    toBreak.forEach(function (el) {
      MathJax.Hub.getAllJax(el).forEach(function (jax) { steerBreaks(jax.root); });
    });
  });
  hub.Queue(withLineBreaks(true));
  hub.Queue(function () { return toBreak.length ? hub.Rerender(toBreak) : null; });
  hub.Queue(withLineBreaks(false));
  hub.Queue(function () {
    toBreak.forEach(function (el) { shrinkToFit(el, MIN_SCALE_LAST); });
    document.documentElement.setAttribute("data-math-fit", width);
    done();
  });
}
