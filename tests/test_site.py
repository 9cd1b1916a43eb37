"""The course website: a strict MkDocs build, its pages and links, offline assets, and a real
headless Chromium that opens every page (math typeset, figures loaded, no console errors, no
request leaving 127.0.0.1, search working). Screenshots land in test-artifacts/site/."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from grader.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
LESSONS_IN_COURSE_ORDER = ["rl_for_lms", "kl_divergence", "reward_model", "ppo", "dpo"]
ARTIFACTS = ROOT / "test-artifacts" / "site"


# --- building and reading the site ----------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "site" / "mkdocs.yml"),
                        "-d", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    warnings = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("WARNING")]
    assert not warnings, "\n".join(warnings)
    return out


def pages(site: Path) -> list[str]:
    """Every page a reader can reach, as paths relative to the site root (MathJax's own files and
    the 404 page, which a server shows for unknown URLs, are not pages)."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if p.name != "404.html" and "assets" not in p.relative_to(site).parts)


class _Page(HTMLParser):
    """Links, fetched resources and visible text of one HTML page."""

    FETCHING = {"script": "src", "img": "src", "iframe": "src", "embed": "src", "source": "src",
                "audio": "src", "video": "src", "track": "src", "object": "data"}

    def __init__(self):
        super().__init__()
        self.links, self.fetched, self.text, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in self.FETCHING and a.get(self.FETCHING[tag]):
            self.fetched.append(a[self.FETCHING[tag]])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").split()) - {"canonical", "alternate", "next", "prev"}:
            self.fetched.append(a["href"])
        for value in (a.get("srcset") or "").split(","):
            if value.strip():
                self.fetched.append(value.split()[0])
        self.fetched += re.findall(r"url\(\s*['\"]?([^'\")]+)", a.get("style") or "")
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def links_from(site: Path, page: str) -> set[str]:
    """Pages linked from ``page``, as site-relative paths without query or fragment."""
    out = set()
    for href in parse(site / page).links:
        target = urlsplit(urljoin(f"http://site/{page}", href))
        if target.netloc == "site" and target.path.endswith(".html"):
            out.add(target.path.lstrip("/"))
    return out


def nav_order(site: Path) -> list[str]:
    """The order in which the home page lists lessons and exercises: first seen in the sidebar
    navigation, which comes before the page's content (and its course map)."""
    order = []
    for href in parse(site / "index.html").links:
        path = urlsplit(href).path
        if re.fullmatch(r"(lessons|exercises)/\w+\.html", path) and path not in order:
            order.append(path)
    return order


# --- the build ------------------------------------------------------------------------------


def test_every_lesson_exercise_and_guide_has_a_page(site):
    expected = {"index.html", *(f"lessons/{p.stem}.html" for p in (ROOT / "lessons").glob("*.md")),
                *(f"exercises/{e.id}.html" for e in EXERCISES),
                *(f"guides/{p.stem}.html" for p in (ROOT / "guides").glob("*.md"))}
    assert "guides/checking.html" in expected
    assert expected == set(pages(site))


def test_navigation_follows_the_course_order(site):
    lessons = [f"lessons/{i}.html" for i in LESSONS_IN_COURSE_ORDER]
    exercises = [f"exercises/{e.id}.html" for e in EXERCISES]
    assert nav_order(site) == lessons + exercises
    # The registry lists exercises in course order too: one order, not two.
    assert [e.id for e in EXERCISES] == [i for i in LESSONS_IN_COURSE_ORDER if i in {e.id for e in EXERCISES}]


def test_home_lesson_and_exercise_are_two_clicks_apart(site):
    home = links_from(site, "index.html")
    for lesson in LESSONS_IN_COURSE_ORDER:
        assert f"lessons/{lesson}.html" in home
    for e in EXERCISES:
        lesson, exercise = f"lessons/{e.id}.html", f"exercises/{e.id}.html"
        assert exercise in home  # home -> exercise: one click
        assert exercise in links_from(site, lesson), f"{lesson} does not link to its exercise"
        assert lesson in links_from(site, exercise), f"{exercise} does not link back to its lesson"
        assert "index.html" in links_from(site, exercise)  # and home again
        for page in (lesson, exercise):
            assert f"rlhf-course check {e.id}" in "".join(parse(site / page).text), f"{page} lacks the check command"


def _solution_lines(exercise) -> set[str]:
    """Lines of the reference's solution regions that the stub does not also contain."""
    solution = (ROOT / exercise.solution).read_text(encoding="utf-8")
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", solution, re.S)
    stub = {line.strip() for line in (ROOT / exercise.stub).read_text(encoding="utf-8").splitlines()}
    return {s for region in regions for line in region.splitlines()
            if len(s := line.strip()) > 12 and s not in stub and not s.startswith("#")}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_exercise_page_shows_the_stub_never_the_solution(site, exercise):
    text = html.unescape("".join(parse(site / f"exercises/{exercise.id}.html").text))
    stub = (ROOT / exercise.stub).read_text(encoding="utf-8")
    for name in re.findall(r"^def (\w+)\(", stub, re.M):
        assert f"def {name}(" in text, f"the page lacks the stub's function {name}"
    assert "raise NotImplementedError()" in text
    assert "Traceback" not in text and "NotImplementedError:" not in text  # never an executed stub
    leaked = sorted(line for line in _solution_lines(exercise) if line in text)
    assert not leaked, f"solution code on the exercise page: {leaked[:3]}"
    assert _solution_lines(exercise), "found no solution lines to compare against"


def test_every_figure_a_lesson_shows_is_made_by_a_script(site):
    referenced = 0
    for lesson in (ROOT / "lessons").glob("*.md"):
        for src in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", lesson.read_text(encoding="utf-8")):
            png = lesson.parent / src
            assert png.suffix == ".png" and png.parent == ROOT / "lessons" / "figures", f"{lesson.name}: {src}"
            assert png.is_file(), f"{lesson.name} shows {src}, which does not exist; run `rlhf-course figures`"
            assert png.with_suffix(".py").is_file(), f"{src} has no script {png.stem}.py that makes it"
            assert (site / "lessons" / src).is_file()
            referenced += 1
    assert referenced > 0


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("", "data", "blob") and not parts.netloc and not url.startswith("//")


def test_nothing_is_fetched_from_another_host(site):
    """What the built HTML and CSS make a browser load is all on this site (the browser test
    watches the requests scripts make at run time)."""
    remote = []
    for page in site.rglob("*.html"):
        remote += [f"{page.relative_to(site)}: {u}" for u in parse(page).fetched if not _is_local(u)]
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(r"@import\s+['\"]([^'\"]+)", text)
        remote += [f"{css.relative_to(site)}: {u}" for u in urls if not _is_local(u)]
    assert not remote, "\n".join(remote[:10])
    own = (ROOT / "site" / "docs" / "assets").rglob("*.js")
    assert not [p for p in own if re.search(r"https?://", p.read_text(encoding="utf-8"))]
    assert (site / "assets" / "mathjax" / "MathJax.js").is_file()
    assert "assets/mathjax/MathJax.js" in (site / "index.html").read_text(encoding="utf-8")


# --- figures --------------------------------------------------------------------------------

WRITES = "from pathlib import Path\nPath(__file__).with_suffix('.png').write_bytes(b'%s')\n"


def test_figures_command_reports_what_changed_and_keeps_old_pngs_on_failure(tmp_path):
    from grader.figures import FigureError, regenerate

    scripts = {"a": WRITES % "one", "b": WRITES % "two", "c": "raise SystemExit('boom: no data')",
               "d": "print('forgot to save')"}
    for name, body in scripts.items():
        (tmp_path / f"{name}.py").write_text(body)
    (tmp_path / "b.png").write_bytes(b"two")
    (tmp_path / "c.png").write_bytes(b"old")
    results = {r.script.stem: r for r in regenerate(tmp_path, jobs=2)}
    assert {k: r.status for k, r in results.items()} == {"a": "created", "b": "unchanged", "c": "failed", "d": "failed"}
    assert (tmp_path / "a.png").read_bytes() == b"one" and (tmp_path / "c.png").read_bytes() == b"old"
    assert "boom: no data" in results["c"].detail and "did not write d.png" in results["d"].detail

    (tmp_path / "a.png").write_bytes(b"stale")
    checked = {r.script.stem: r.status for r in regenerate(tmp_path, ["a", "b.py"], check=True)}
    assert checked == {"a": "stale", "b": "fresh"}
    assert (tmp_path / "a.png").read_bytes() == b"stale"  # --check never writes
    with pytest.raises(FigureError, match="choose from a, b, c, d"):
        regenerate(tmp_path, ["nope"])


def test_figures_command_on_a_lesson_figure():
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "grader.cli", "figures", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    r = cli("--check", "dpo_gradient_weight")  # the committed PNG is exactly what its script makes
    assert r.returncode == 0 and "fresh" in r.stdout, r.stdout + r.stderr
    r = cli("no_such_figure")
    assert r.returncode == 2 and "choose from" in r.stderr and "Traceback" not in r.stderr


# --- the browser ----------------------------------------------------------------------------

# Run in each page after MathJax finished: what a reader would see that is wrong.
INSPECT = r"""(() => {
  const hidden = "script, style, pre, code, .MathJax_Preview, .MJX_Assistive_MathML";
  const raw = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode;
    if (node.parentElement.closest(hidden)) continue;
    const t = node.textContent;
    if (/\\[()\[\]]|\$\$|\$[^$\s][^$]*[\\^_][^$]*\$/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  const formulas = [...document.querySelectorAll(".arithmatex")];
  return {
    formulas: formulas.length,
    untypeset: formulas.filter(e => !e.querySelector(".MathJax, .MathJax_Display")).map(e => e.textContent.slice(0, 80)),
    raw: raw,
    mathErrors: window.mathErrors || ["MathJax configuration did not run"],
    figures: document.querySelectorAll("article img").length,
    brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  };
})()"""

SEARCH = r"""(() => {
  const input = document.querySelector("input.md-search__input");
  input.focus();
  input.value = %r;
  input.dispatchEvent(new Event("input", {bubbles: true}));
  input.dispatchEvent(new KeyboardEvent("keyup", {bubbles: true, key: "e"}));
  return true;
})()"""


def _inspect(browser, base: str) -> tuple[dict, dict]:
    """``(counts, problems)`` for the page just loaded; ``problems`` is empty when all is well."""
    if not browser.wait_until("document.documentElement.dataset.math === 'done'", timeout=30):
        return {}, {"MathJax did not finish": True}
    report = browser.evaluate(INSPECT)
    report["console errors"] = browser.errors
    report["requests to other hosts"] = [u for u in browser.requests
                                         if not u.startswith(base) and urlsplit(u).scheme not in ("data", "blob")]
    counts = {k: report.pop(k) for k in ("formulas", "figures")}
    return counts, {k: v for k, v in report.items() if v}


def _canary(site: Path) -> str:
    """A copy of a lesson with one of each thing the browser test must catch: a TeX error, a
    formula MathJax cannot find (no closing delimiter), raw $$, a missing and a remote image."""
    page = (site / "lessons" / "dpo.html").read_text(encoding="utf-8")
    bad = ('<p><span class="arithmatex">\\(\\frac{1}{\\)</span>, <span class="arithmatex">\\(x^2</span>, '
           '$$x^2$$ raw, '
           '<img src="figures/no_such_figure.png" alt="missing"> '
           '<img src="https://cdn.example.com/remote.png" alt="remote"></p>')
    page = page.replace("<h2", bad + "<h2", 1)
    (site / "lessons" / "canary.html").write_text(page, encoding="utf-8")
    return "lessons/canary.html"


@pytest.mark.browser
def test_every_page_in_headless_chromium(site):
    from tests.browser import CHROMIUM, Chromium, StaticServer

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM}: `apt-get install -y chromium` (Debian/Ubuntu)")
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    with StaticServer(site) as base, Chromium() as browser:
        failures, figures, formulas = {}, 0, 0
        for page in pages(site):
            browser.goto(base + page)
            counts, problems = _inspect(browser, base)
            if problems:
                failures[page] = problems
            figures, formulas = figures + counts.get("figures", 0), formulas + counts.get("formulas", 0)
            browser.screenshot(ARTIFACTS / page.replace(".html", ".png"))
        assert not failures, "\n".join(f"{p}: {v}" for p, v in failures.items())
        assert formulas > 100 and figures >= len(list((ROOT / "lessons" / "figures").glob("*.png")))

        # The detectors themselves must catch each fault of the canary page.
        canary = _canary(site)
        try:
            browser.goto(base + canary)
            _, caught = _inspect(browser, base)
        finally:
            (site / canary).unlink()
        assert caught.get("mathErrors") and caught.get("untypeset") and caught.get("raw"), caught
        assert caught.get("console errors"), caught
        assert any("no_such_figure" in u for u in caught.get("brokenImages", [])), caught
        assert any("cdn.example.com" in u for u in caught.get("requests to other hosts", [])), caught

        # Code blocks have copy buttons; the palette toggles between light and dark.
        browser.goto(base + f"exercises/{EXERCISES[0].id}.html")
        assert browser.wait_until("document.querySelectorAll('pre > code').length > 0 && "
                                  "document.querySelectorAll('pre button[data-md-type=copy]').length == "
                                  "document.querySelectorAll('pre > code').length", 10)
        schemes = browser.evaluate("""(() => {
          const seen = [document.body.getAttribute("data-md-color-scheme")];
          document.querySelector("form[data-md-component=palette] label:not([hidden])").click();
          seen.push(document.body.getAttribute("data-md-color-scheme"));
          return seen;
        })()""")
        assert set(schemes) == {"default", "slate"}, schemes

        # Search: the index covers every page, and the search box finds a lesson.
        browser.goto(base + "index.html")
        indexed = browser.evaluate("fetch('search/search_index.json').then(r => r.json())"
                                   ".then(j => j.docs.map(d => d.location.split('#')[0]))")
        assert set(pages(site)) <= set(indexed)
        browser.evaluate(SEARCH % "Bradley")
        assert browser.wait_until("document.querySelectorAll('.md-search-result__item').length > 0", timeout=10)
        hits = browser.evaluate("[...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)")
        assert any("lessons/dpo.html" in h for h in hits), hits
