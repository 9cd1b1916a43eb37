"""nbgrader feedback pages whose math renders offline, and hidden tests removed without a warning.

Both are named in the course's ``nbgrader_config.py`` (grader/course/nbgrader_course.py writes it):

    c.GenerateFeedback.exporter_class = "grader.course.nbgrader_feedback.FeedbackHTMLExporter"
    c.GenerateFeedback.preprocessors = [..., "grader.course.nbgrader_feedback.ClearHiddenTests", ...]

**Math.** nbgrader's feedback template calls nbconvert's ``{{ mathjax() }}`` macro with no argument, so
its pages load MathJax from the macro's default, a CDN, whatever ``HTMLExporter.mathjax_url`` says: with
no internet they show raw ``$...$``. ``FeedbackHTMLExporter`` is nbconvert's HTMLExporter with its own
``mathjax.html.j2`` (a Jinja loader tried before nbconvert's templates), whose macro defaults to the
exporter's ``mathjax_url``: by default ``mathjax/MathJax.js``, a copy of MathJax 2.7.9 (grader/course/mathjax.py)
that each page gets in its own folder, feedback/<student>/<assignment>/mathjax/, written while nbgrader
converts the page (so nbgrader then gives it the page's permissions). Only what this configuration can
load is copied, about 2 MB in 186 files: TeX input, HTML-CSS output with the STIX-Web web fonts (the only
fonts the package ships, as on the course website), the Safe extension; English is built in. Not copied:
the SVG output, other languages, and the accessibility menu's speech and explorer tools (3.7 MB, loaded
only if a reader turns them on in MathJax's menu; they then fail to load). Set
``c.FeedbackHTMLExporter.mathjax_url`` to another MathJax 2 (a course server, a CDN) and nothing is copied.

nbgrader's own ``release_feedback``/``fetch_feedback`` carry the .html file alone, not the folder beside it:
students who get feedback that way see raw TeX unless ``mathjax_url`` points to a MathJax they can reach.

**Hidden tests.** nbgrader's ClearHiddenTests, here applied to an HTML export, logged "Config option
`display_data_priority` not recognized by `ClearHiddenTests`" on every run: HTMLExporter's default config
sets ``NbConvertBase.display_data_priority``, which reaches every preprocessor it makes, and nbgrader's
NbGraderPreprocessor redeclares that trait without ``config=True``. nbgrader's GetGrades declares it
configurable for the same reason; the subclass below does the same and changes nothing else.
"""

from __future__ import annotations

import functools
import json
import shutil
from html import escape
from pathlib import Path

from jinja2 import DictLoader
from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import ClearHiddenTests as _ClearHiddenTests
from traitlets import List, default

from grader.course.mathjax import mathjax_source

MATHJAX_DIR = "mathjax"  # beside each feedback page
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the combined configuration the package ships
LOCAL_MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}"

# What that configuration loads, on demand, relative to the MathJax folder: the page's math decides which
# font parts, operator tables and TeX extensions, so all of each. The combined configuration holds the TeX
# and MathML input, the HTML-CSS output, the menu and the accessibility menu's entry; English is built in.
SHIPPED = ("LICENSE", "MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", "config/Safe.js",
           "extensions/", "jax/input/TeX/", "jax/element/mml/", "jax/output/HTML-CSS/",
           "fonts/HTML-CSS/STIX-Web/")
NOT_SHIPPED = ("extensions/a11y/",  # 3.7 MB of speech rules and explorer, loaded only when chosen in the menu
               "extensions/MathML/")  # MathML 3 and content-MathML input extensions: not configured

# nbconvert's mathjax macro with a default URL, MathJax's settings before MathJax (nothing races) and the
# HTML-CSS output on the STIX-Web web fonts, the only ones the package ships (as on the course website).
MATHJAX_MACRO = r"""{%- macro mathjax(url=@URL@) -%}
<!-- MathJax 2.7.9; by default the copy in mathjax/ beside this page, so math renders offline -->
<script>
window.MathJax = {
  messageStyle: "none",
  displayAlign: "center",
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  TeX: { equationNumbers: { autoNumber: "AMS", useLabelIds: true } },
  MMLorHTML: { prefer: "HTML" },
  "HTML-CSS": {
    availableFonts: [],
    preferredFont: null,
    webFont: "STIX-Web",
    imageFont: null,
    linebreaks: { automatic: true },
    styles: { "@font-face": { "font-family": "MathJax_Blank", src: "local('MathJax_Blank')" } },
  },
  "fast-preview": { disabled: true },
};
</script>
<script src="{{ url | e }}"></script>
{%- endmacro %}
"""


@functools.lru_cache(maxsize=1)
def mathjax_files() -> tuple[str, ...]:
    """The MathJax files a feedback page needs, relative to the MathJax folder."""
    source = mathjax_source()
    files = tuple(rel for rel in (p.relative_to(source).as_posix() for p in sorted(source.rglob("*")) if p.is_file())
                  if rel.startswith(SHIPPED) and not rel.startswith(NOT_SHIPPED))
    missing = [s for s in SHIPPED if not any(f.startswith(s) for f in files)]
    if missing:
        raise FileNotFoundError(f"{source} lacks {', '.join(missing)}: reinstall jupyter-server-mathjax")
    return files


def copy_mathjax(folder: Path) -> int:
    """Copy the MathJax a feedback page needs into ``folder``; return the bytes copied."""
    source = mathjax_source()
    size = 0
    for rel in mathjax_files():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
        size += target.stat().st_size
    return size


def is_local(url: str) -> bool:
    """Whether ``url`` is the copy beside the page (and so must be written with it)."""
    return url.split("?")[0] == f"{MATHJAX_DIR}/MathJax.js"


class FeedbackHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter whose pages load MathJax from ``mathjax_url``, by default a copy beside them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._brought: set[Path] = set()

    @default("mathjax_url")
    def _local_mathjax(self) -> str:
        return LOCAL_MATHJAX_URL

    @default("extra_loaders")
    def _mathjax_macro(self):
        # json.dumps writes a valid Jinja string literal (its escapes are Python's).
        return [DictLoader({"mathjax.html.j2": MATHJAX_MACRO.replace("@URL@", json.dumps(self.mathjax_url))})]

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        if f'src="{escape(self.mathjax_url)}"' not in output:
            self.log.warning("This feedback template does not load MathJax through nbconvert's mathjax() "
                             "macro: its math may need the network (grader/course/nbgrader_feedback.py)")
        elif is_local(self.mathjax_url):
            self._bring_mathjax(resources)
        return output, resources

    def _bring_mathjax(self, resources) -> None:
        """Put MathJax where the page goes: feedback/<student>/<assignment>/mathjax/ under nbgrader."""
        coursedir = getattr(self.parent, "coursedir", None)  # nbgrader's GenerateFeedback converter
        info = resources.get("nbgrader") or {}
        if coursedir is None or not {"student", "assignment"} <= set(info):
            # Not run by nbgrader: nbconvert's writer puts the files beside the page (logging each folder).
            source = mathjax_source()
            outputs = resources.setdefault("outputs", {})
            if not outputs:  # what nbconvert's "Support files will be in ..." names
                resources["output_files_dir"] = MATHJAX_DIR
            outputs.update({f"{MATHJAX_DIR}/{rel}": (source / rel).read_bytes() for rel in mathjax_files()})
            return
        # The folder nbgrader writes the page to (its GenerateFeedback._format_dest); its permissions follow.
        folder = Path(coursedir.format_path(coursedir.feedback_directory, info["student"], info["assignment"]),
                      MATHJAX_DIR)
        if folder not in self._brought:  # once per assignment folder, however many notebooks it has
            size = copy_mathjax(folder)
            self._brought.add(folder)
            self.log.info("MathJax for offline math: %s (%.1f MB)", folder, size / 1e6)


class ClearHiddenTests(_ClearHiddenTests):
    """nbgrader's ClearHiddenTests, quiet under HTMLExporter's config (see the module doc)."""

    display_data_priority = List(help="Not used here: declared so that HTMLExporter's setting is no "
                                      "unknown option (as nbgrader's GetGrades does)").tag(config=True)


__all__ = ["ClearHiddenTests", "FeedbackHTMLExporter", "LOCAL_MATHJAX_URL", "MATHJAX_DIR", "mathjax_files"]
