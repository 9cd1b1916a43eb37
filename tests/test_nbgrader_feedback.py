"""Feedback pages from stock nbgrader: math renders offline, the log is clean.

The session's course (tests/test_nbgrader.py: the commands of guides/instructors.md, hidden tests) and its
reference student's DPO feedback. The page must load MathJax from the copy beside it and
nothing from another host; with Chromium at /usr/bin/chromium it is opened from disk, as a student
would, and its math must be typeset with MathJax's web fonts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from grader.course.nbgrader_feedback import MATHJAX_DIR, mathjax_files
from tests.reference import ROOT

# One worker under pytest-xdist: both files read the session's nbgrader course (tests/conftest.py).
pytestmark = [pytest.mark.nbgrader, pytest.mark.xdist_group("nbgrader_course")]

EXERCISE = "dpo"
STUDENT = "reference"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def nbgrader(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def course(nbgrader_course):
    """The session's course (tests/test_nbgrader.py): dpo with hidden tests, among others; its reference
    student's feedback page."""
    page = nbgrader_course["dir"] / "feedback" / STUDENT / EXERCISE / f"{EXERCISE}.html"
    assert page.is_file(), nbgrader_course["feedback_log"]
    return {"dir": nbgrader_course["dir"], "page": page, "log": nbgrader_course["feedback_log"]}


class Fetched(HTMLParser):
    """What a browser fetches for a page: script, image, frame and media sources, stylesheet links, CSS url()
    and @import (links a reader may follow, <a href>, are not fetched)."""

    SRC = {"script", "img", "iframe", "frame", "audio", "video", "source", "embed", "track", "input"}

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.SRC and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        if tag == "object" and a.get("data"):
            self.urls.append(a["data"])
        if a.get("style"):
            self._css(a["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self._css(data)

    def _css(self, css: str):
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        self.urls += re.findall(r"""url\(\s*['"]?([^'")]+)""", css)
        self.urls += re.findall(r"""@import\s+['"]([^'"]+)""", css)


def fetched(html: str) -> list[str]:
    parser = Fetched()
    parser.feed(html)
    return parser.urls


def remote(url: str) -> bool:
    """Whether a URL in a page names a host (http:, https:, //host, ...) rather than a file beside it."""
    return bool(re.match(r"^([a-z][a-z0-9+.-]*:)?//", url.strip(), re.I))


def test_fetched_urls_catch_remote_resources():
    page = ('<script src="https://cdn.example.org/MathJax.js"></script>'
            '<link rel="stylesheet" href="//cdn.example.org/a.css">'
            '<style>/* url(https://comment.example.org) */ .x { background: url("https://img.example.org/b.png") }'
            '</style>'
            '<a href="https://paper.example.org">a paper</a><img src="data:image/png;base64,AAAA">'
            '<script src="mathjax/MathJax.js?config=X"></script>')
    urls = fetched(page)
    assert [u for u in urls if remote(u)] == ["https://cdn.example.org/MathJax.js", "//cdn.example.org/a.css",
                                               "https://img.example.org/b.png"]
    assert "mathjax/MathJax.js?config=X" in urls


def test_feedback_loads_mathjax_from_beside_the_page(course):
    page = course["page"]
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"https?://[^\s\"'<>]*mathjax", html, re.I), "the page loads MathJax from the network"
    urls = fetched(html)
    assert not [u for u in urls if remote(u)], "the page fetches from another host"
    scripts = [u for u in urls if urlsplit(u).path.endswith("MathJax.js")]
    assert scripts == [f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"], scripts
    url = urlsplit(scripts[0])
    mathjax = page.parent / unquote(url.path)
    assert mathjax.is_file(), f"{mathjax} is missing"
    for config in re.search(r"config=([^&]+)", url.query).group(1).split(","):
        assert (mathjax.parent / "config" / f"{config}.js").is_file(), config
    copied = sorted(p.relative_to(mathjax.parent).as_posix() for p in mathjax.parent.rglob("*") if p.is_file())
    assert copied == sorted(mathjax_files())
    assert sum((mathjax.parent / f).stat().st_size for f in copied) < 3_000_000  # no SVG, speech rules, languages
    assert "HIDDEN TESTS" not in html and "grader.notebook" not in html


def test_generate_feedback_log_has_no_warning_about_config(course):
    assert "not recognized" not in course["log"], course["log"]
    assert "does not load MathJax" not in course["log"], course["log"]


def test_released_notebook_checks_itself(course):
    released = nbformat.read(course["dir"] / "release" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in released.cells if c.cell_type == "markdown")
    assert f"rlhf-course check {EXERCISE} --file {EXERCISE}.ipynb" in markdown
    assert not re.search(rf"rlhf-course check {EXERCISE}(?!\s*--file)", markdown), "a bare check would grade the clone"


def test_another_mathjax_url_is_used_and_nothing_copied(course):
    url = "https://mathjax.example.org/2.7.9/MathJax.js?config=TeX-AMS-MML_HTMLorMML"
    r = nbgrader("generate_feedback", EXERCISE, "--student", STUDENT, f"--FeedbackHTMLExporter.mathjax_url={url}",
                 "--CourseDirectory.feedback_directory=feedback_elsewhere", cwd=course["dir"])
    assert r.returncode == 0, r.stderr
    folder = course["dir"] / "feedback_elsewhere" / STUDENT / EXERCISE
    assert f'<script src="{url}"></script>' in (folder / f"{EXERCISE}.html").read_text(encoding="utf-8")
    assert not (folder / MATHJAX_DIR).exists()


# What a reader of the feedback page sees, once MathJax has typeset it.
# (The hook returns nothing: MathJax would wait for a returned callback, and startup with it.)
TYPESET = r"""new Promise(done => MathJax.Hub.Register.StartupHook("End", () => { MathJax.Hub.Queue(() => {
  const raw = [];
  for (const cell of document.querySelectorAll(".text_cell_render")) {
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    while (walk.nextNode()) {
      const node = walk.currentNode;
      if (node.parentElement.closest("script, pre, code, .MathJax_Preview, .MJX_Assistive_MathML")) continue;
      if (/\\[()\[\]]|\$\$|\$[^$\s][^$]*\$/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
    }
  }
  const html = MathJax.OutputJax["HTML-CSS"];
  done({
    formulas: MathJax.Hub.getAllJax().length,
    rendered: document.querySelectorAll(".MathJax").length,
    errors: document.querySelectorAll(".MathJax_Error, merror").length,
    font: html ? html.fontInUse + (html.webFonts ? " (web font)" : "") : null,
    raw: raw,
  });
}); }))"""


@pytest.mark.browser
def test_feedback_math_is_typeset_offline_from_disk(course):
    from tests.browser import CHROMIUM, Chromium

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM}: `apt-get install -y chromium` (Debian/Ubuntu)")
    with Chromium() as browser:
        browser.goto(course["page"].resolve().as_uri())  # opened from disk, as a student would
        assert browser.wait_until("!!(window.MathJax && window.MathJax.Hub)", timeout=30), \
            f"MathJax did not load: {browser.errors}"
        report = browser.evaluate(TYPESET)
        assert report["formulas"] >= 10 and report["rendered"] == report["formulas"], report
        assert report["errors"] == 0 and report["raw"] == [], report
        assert report["font"] == "STIX-Web (web font)", report
        assert browser.errors == [], browser.errors
        assert [u for u in browser.requests if urlsplit(u).scheme != "file"] == []
        assert any(u.endswith(".woff?V=2.7.9") for u in browser.requests)  # the fonts came from mathjax/
