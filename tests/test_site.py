"""The course website: a strict MkDocs build, its pages and links, the course order, downloads,
offline assets, and a real headless Chromium that opens every page at desktop (1400 px) and phone
(390 px) widths: math typeset, no raw TeX, nothing cut or scrolling sideways that should not,
figures loaded and zoomable, no console errors, no request leaving 127.0.0.1, search working
(served and from file://). Screenshots land in test-artifacts/site/."""

from __future__ import annotations

import html
import json
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
LESSONS_IN_COURSE_ORDER = ["rl_for_lms", "sft", "kl_divergence", "reward_model", "ppo", "dpo", "rlaif", "rag", "pal", "reasoning", "cheaper_models", "capstone"]
ARTIFACTS = ROOT / "test-artifacts" / "site"
DESKTOP, PHONE = 1400, 390  # px: the widths the browser test reads every page at


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


def course_order() -> list[str]:
    """Each lesson, followed by its exercise when it has one."""
    exercises = {e.id for e in EXERCISES}
    return [page for i in LESSONS_IN_COURSE_ORDER
            for page in (f"lessons/{i}.html", *([f"exercises/{i}.html"] if i in exercises else []))]


def repository() -> str:
    """The course repository's address, as site/mkdocs.yml sets it (the only place)."""
    m = re.search(r"^  repository: (\S+)$", (ROOT / "site" / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    assert m, "site/mkdocs.yml: extra.repository is not set"
    return m.group(1)


def article(site: Path, page: str) -> str:
    text = (site / page).read_text(encoding="utf-8")
    return text[text.index("<article"):text.index("</article>")]


# --- the build ------------------------------------------------------------------------------


def test_every_lesson_exercise_and_guide_has_a_page(site):
    expected = {"index.html", "quiz.html", *(f"lessons/{p.stem}.html" for p in (ROOT / "lessons").glob("*.md")),
                *(f"exercises/{e.id}.html" for e in EXERCISES),
                *(f"guides/{p.stem}.html" for p in (ROOT / "guides").glob("*.md"))}
    assert "guides/checking.html" in expected
    assert expected == set(pages(site))


def test_navigation_follows_the_course_order(site):
    """Lessons, numbered, each followed by its exercise: in the sidebar and in the footer's Next."""
    order = course_order()
    assert nav_order(site) == order
    # The registry lists exercises in course order too: one order, not two.
    assert [e.id for e in EXERCISES] == [i for i in LESSONS_IN_COURSE_ORDER if i in {e.id for e in EXERCISES}]
    titles = dict(re.findall(r'<a href="((?:lessons|exercises)/\w+\.html)" class="md-nav__link">\s*'
                             r'<span class="md-ellipsis">\s*([^<]+?)\s*</span>', (site / "index.html").read_text(encoding="utf-8")))
    for n, lesson in enumerate(LESSONS_IN_COURSE_ORDER, 1):
        assert re.fullmatch(rf"{n}\. \S.*", html.unescape(titles[f"lessons/{lesson}.html"])), titles
        if f"exercises/{lesson}.html" in titles:
            assert html.unescape(titles[f"exercises/{lesson}.html"]).startswith(f"Exercise {n}: "), titles
    for page, following in zip(order, order[1:]):
        nxt = re.search(r'<a href="([^"]+)" class="md-footer__link md-footer__link--next"',
                        (site / page).read_text(encoding="utf-8"))
        assert nxt and urljoin(f"http://site/{page}", nxt.group(1)) == f"http://site/{following}", page


def _hrefs(page: str, fragment: str) -> set[str]:
    return {urljoin(f"http://site/{page}", href) for href in re.findall(r'href="([^"#]+)', fragment)}


def test_lessons_end_with_their_exercise_and_exercises_with_the_next_lesson(site):
    order = course_order()
    for lesson in LESSONS_IN_COURSE_ORDER:
        page = f"lessons/{lesson}.html"
        *_, (title, after) = re.findall(r'<p class="admonition-title">(.*?)</p>(.*?)(?=<p class="admonition-title">|$)',
                                        article(site, page), re.S)
        assert "<h2" not in after, f"{page}: its last box is not at its end"
        i = order.index(page)
        if i + 1 < len(order):
            target = order[i + 1]
            label = "Now do the exercise" if target.startswith("exercises/") else "Next"
            assert title == label, f"{page} ends with {title!r}, not {label!r}"
            assert f"http://site/{target}" in _hrefs(page, after), f"{page} does not end with a link to {target}"
    for e in EXERCISES:
        page = f"exercises/{e.id}.html"
        *_, (title, after) = re.findall(r'<p class="admonition-title">(.*?)</p>(.*?)(?=<p class="admonition-title">|$)',
                                        article(site, page), re.S)
        later = [p for p in order[order.index(page) + 1:] if p.startswith("lessons/")]
        if later:
            assert title == "Next" and f"http://site/{later[0]}" in _hrefs(page, after), \
                f"{page} does not end with the next lesson"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_each_exercise_downloads_as_a_notebook_and_a_python_file(site, exercise):
    import jupytext
    import nbformat

    stub = ROOT / exercise.stub
    assert (site / "exercises" / stub.name).read_text(encoding="utf-8") == stub.read_text(encoding="utf-8")
    notebook = nbformat.reads((site / "exercises" / f"{stub.stem}.ipynb").read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(notebook)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert code == [c.source for c in jupytext.read(stub, fmt="py:percent").cells if c.cell_type == "code"]
    assert any("raise NotImplementedError()" in c for c in code)
    for page, prefix in ((f"exercises/{exercise.id}.html", ""), (f"lessons/{exercise.id}.html", "../exercises/")):
        links = parse(site / page).links
        assert f"{prefix}{stub.stem}.ipynb" in links and f"{prefix}{stub.name}" in links, page


def test_the_repository_address_is_set_in_one_place(site):
    url = repository()
    assert re.fullmatch(r"https://\S+[^/]", url)
    for doc in [ROOT / "README.md", ROOT / "site" / "docs" / "index.md", *(ROOT / "guides").glob("*.md")]:
        text = doc.read_text(encoding="utf-8")
        assert "<the course repository>" not in text, f"{doc.name} has no repository address"
        for cloned in re.findall(r"git clone ([^\s`'\")]+)", text):
            assert cloned in (url, "@REPOSITORY@"), f"{doc.name} clones {cloned}, not {url} (site/mkdocs.yml)"
    assert f"git clone {url}" in "".join(parse(site / "index.html").text)
    assert f"git clone {url}" in "".join(parse(site / "guides" / "instructors.html").text)
    for page in pages(site):
        assert url in parse(site / page).links, f"{page} does not link to the repository"
        assert "@REPOSITORY@" not in (site / page).read_text(encoding="utf-8")


# Raw TeX: \( \[ delimiters, a command such as \beta, or $...$ with a sub/superscript. Not "\nAssistant:", a
# newline escape in a code sample (a chat template).
TEX = re.compile(r"\\[()\[\]]|\\(?!n[A-Z])[A-Za-z]{2,}|\$[^$\s][^$]*[\\^_][^$]*\$")


def test_search_previews_show_formulas_as_text(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    prose = {(d["location"], k): re.sub(r"<code>.*?</code>", " ", d[k], flags=re.S)  # code may hold "\\n"
             for d in index["docs"] for k in ("title", "text") if k in d}
    raw = [f"{where}: {m.group(0)!r} in ...{text[max(0, m.start() - 30):m.end() + 30]}..."
           for where, text in prose.items() for m in TEX.finditer(text)]
    assert not raw, "\n".join(raw[:10])
    # The same index, as the script a site opened from file:// loads instead.
    script = (site / "search" / "search_index.js").read_text(encoding="utf-8")
    assert script.startswith("var __index = ") and json.loads(script[len("var __index = "):]) == index
    # Lessons rank above exercises that mention the same words.
    assert {d.get("boost") for d in index["docs"] if d["location"].startswith("lessons/")} == {3}


def test_the_404_page_links_relatively(site):
    text = (site / "404.html").read_text(encoding="utf-8")
    assert not re.findall(r'(?:href|src)="/(?!/)', text), re.findall(r'(?:href|src)="/[^"]*"', text)[:5]


def test_home_table_review_questions_and_figure_captions_have_one_style(site):
    home = article(site, "index.html")
    assert re.search(r"<th[^>]*>#</th>\s*<th[^>]*>Lesson</th>", home)
    for lesson in LESSONS_IN_COURSE_ORDER:
        page = article(site, f"lessons/{lesson}.html")
        figures = re.findall(r'<img [^>]*src="figures/', page)
        captions = re.findall(r'<figure class="course-figure">.*?<figcaption><strong>Figure (\d+)\.</strong>', page, re.S)
        assert captions == [str(n) for n in range(1, len(figures) + 1)], f"{lesson}: figures without the caption style"
        if "Review questions" in page:
            section = page[page.index("Review questions"):]
            section = section[:section.find("<h2") if "<h2" in section else None]
            numbers = re.findall(r'<p class="review-question"><strong>Question (\d+)\.</strong>', section)
            assert numbers and numbers == [str(n) for n in range(1, len(numbers) + 1)], f"{lesson}: review questions"
            assert not re.search(r"<p><strong>(Q?\d+\.)", section), f"{lesson}: a review question in another style"


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
    """Lines of the reference's solution regions that the stub does not also contain (its spec may spell one out,
    e.g. pal's "raise `SandboxUnavailable(result.message)`")."""
    solution = (ROOT / exercise.solution).read_text(encoding="utf-8")
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", solution, re.S)
    stub = (ROOT / exercise.stub).read_text(encoding="utf-8").replace("`", "")
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
    from grader.course.figures import FigureError, regenerate

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
  const hidden = "script, style, pre, code, .MathJax, .MathJax_Display, .MathJax_Preview, .MJX_Assistive_MathML";
  const tex = /\\[()\[\]]|\$\$|\$[^$\s][^$]*[\\^_][^$]*\$|\\(?:frac|tfrac|text|math[a-z]+|operatorname|left|right|big|begin|end|alpha|beta|gamma|delta|epsilon|theta|lambda|sigma|pi|rho|log|exp|sum|prod|nabla|mid|cdot|le|ge|sim|infty)(?![A-Za-z])/;
  const raw = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode;
    if (node.parentElement.closest(hidden)) continue;
    if (tex.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  // TeX that MathJax showed as text, e.g. \_ or \beta inside \text{}: a backslash in a typeset formula.
  for (const frame of document.querySelectorAll(".MathJax nobr")) {
    if (frame.textContent.includes("\\")) raw.push("in a formula: " + frame.textContent.slice(0, 80));
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

# Run at each width: what does not fit. On the desktop nothing may scroll sideways or stand out of
# the text column; on a phone only tables and code may scroll, inside their own box, and the page
# never. Formulas must fit their box (they are shrunk or broken into lines to fit), and a formula
# broken into lines leaves no lone punctuation or bracket on a line of its own; math in a table is
# never broken.
LAYOUT = r"""((phone) => {
  const art = document.querySelector("article");
  const vw = document.documentElement.clientWidth, col = art.getBoundingClientRect();
  const out = [];
  const say = (what, e) => out.push(what + ": <" + e.tagName.toLowerCase() + "> " + e.textContent.replace(/\s+/g, " ").trim().slice(0, 60));
  const boxes = ".md-typeset__scrollwrap, .md-typeset__table, table, div.highlight, pre, pre > code";
  if (document.documentElement.scrollWidth > vw + 1) out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " px in " + vw);
  for (const e of art.querySelectorAll("*")) {
    if (e.closest(".MathJax, .MathJax_Display, .MJX_Assistive_MathML, script, [hidden]")) continue;
    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible") {
      if (!phone) say("needs sideways scrolling", e);
      else if (!e.matches(boxes)) say("scrolls sideways (only tables and code may)", e);
    }
    if (e.parentElement.closest(boxes)) continue;  // what is inside a box scrolls with it
    const r = e.getBoundingClientRect();
    if (!r.width) continue;
    if (r.right > vw + 1 || r.left < -1) say("cut at the window's edge", e);
    else if (!phone && !e.matches(".md-typeset__scrollwrap") && (r.right > col.right + 4 || r.left < col.left - 4)) say("wider than the column", e);
  }
  for (const c of art.querySelectorAll("table code")) {  // a name in a table never breaks in two
    if (!/\s/.test(c.textContent.trim()) && c.getClientRects().length > 1) say("a name broken across lines", c);
  }
  for (const e of art.querySelectorAll(".arithmatex")) {
    const m = e.querySelector(".MathJax .math");
    if (!m || !e.offsetParent) continue;
    const row = m.querySelector(".mrow"), holder = row && row.firstElementChild;
    const lines = holder ? [...holder.children].filter(c => c.style.position === "absolute") : [];
    if (lines.length > 1 && e.closest("table")) say("math broken into lines in a table", e);
    for (const line of lines.length > 1 ? lines : []) {
      const t = line.textContent.replace(/\s/g, "");
      if (/^[.,;:!?)\]}|\u2016\u2223\u27e9]*$/.test(t) || [...t].length <= 2) say("a line of its own: '" + t + "' in", e);
    }
    if (e.closest("table")) continue;
    const box = e.tagName === "DIV" ? e : e.parentElement.closest("p, li, dd, div, blockquote");
    const b = box.getBoundingClientRect(), s = getComputedStyle(box), r = m.getBoundingClientRect();
    if (r.right > b.right - parseFloat(s.paddingRight) + 1 || r.left < b.left + parseFloat(s.paddingLeft) - 1) say("formula cut", e);
  }
  return out;
})"""

OPEN_SEARCH = r"""(() => {
  const toggle = document.getElementById("__search");  // what clicking the search box does
  toggle.checked = true;
  toggle.dispatchEvent(new Event("change"));
  return true;
})()"""
SEARCH = r"""(() => {
  const input = document.querySelector("input.md-search__input");
  input.focus();
  input.value = %r;
  input.dispatchEvent(new Event("input", {bubbles: true}));
  input.dispatchEvent(new KeyboardEvent("keyup", {bubbles: true, key: "e"}));
  return true;
})()"""
HITS = r"""[...document.querySelectorAll('.md-search-result__item')].map(li => [li.querySelector('a').href, li.textContent])"""


def _set_width(browser, width: int) -> None:
    browser.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)


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


def _layout(browser, width: int) -> list[str]:
    """What does not fit at ``width``, the page being loaded already (formulas are fitted again)."""
    _set_width(browser, width)
    if not browser.wait_until(f"document.documentElement.dataset.mathFit === '{width}'", timeout=30):
        return [f"formulas were not fitted to {width} px"]
    return browser.evaluate(f"({LAYOUT})({'true' if width < 600 else 'false'})")


@pytest.fixture(scope="module")
def chromium(site):
    from tests.browser import CHROMIUM, Chromium, StaticServer

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM}: `apt-get install -y chromium` (Debian/Ubuntu)")
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    with StaticServer(site) as base, Chromium(width=DESKTOP, height=900) as browser:
        yield browser, base


@pytest.mark.browser
def test_every_page_in_headless_chromium(site, chromium):
    """Every page at desktop and phone width: math typeset, nothing raw, cut or sideways."""
    browser, base = chromium
    failures, figures, formulas = {}, 0, 0
    for page in pages(site):
        _set_width(browser, DESKTOP)
        browser.goto(base + page)
        counts, problems = _inspect(browser, base)
        if not problems.get("MathJax did not finish"):
            for width in (DESKTOP, PHONE):
                if layout := _layout(browser, width):
                    problems[f"at {width} px"] = layout
                browser.screenshot(ARTIFACTS / page.replace(".html", f"-{width}.png"))
        if problems:
            failures[page] = problems
        figures, formulas = figures + counts.get("figures", 0), formulas + counts.get("formulas", 0)
    assert not failures, "\n".join(f"{p}: {v}" for p, v in failures.items())
    shown = {src for lesson in (ROOT / "lessons").glob("*.md")
             for src in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", lesson.read_text(encoding="utf-8"))}
    assert formulas > 100 and figures >= len(shown)


def _canary(site: Path) -> str:
    """A copy of a page with one of each thing the browser test must catch: a TeX error, a formula
    MathJax cannot find (no closing delimiter), raw $$, TeX that MathJax shows as text, a missing and
    a remote image, a formula too long to fit and a block wider than the column."""
    page = (site / "guides" / "instructors.html").read_text(encoding="utf-8")
    bad = ('<p><span class="arithmatex">\\(\\frac{1}{\\)</span>, <span class="arithmatex">\\(x^2</span>, '
           '$$x^2$$ raw, <span class="arithmatex">\\(\\text{input\\_ids}\\)</span>, '
           '<img src="figures/no_such_figure.png" alt="missing"> '
           '<img src="https://cdn.example.com/remote.png" alt="remote"></p>'
           f'<div class="arithmatex">\\[\\text{{{"unbreakable " * 40}}}\\]</div>'
           '<p id="canary-wide" style="width: 2000px">a paragraph wider than any column</p>')
    page = page.replace("<h2", bad + "<h2", 1)
    (site / "guides" / "canary.html").write_text(page, encoding="utf-8")
    return "guides/canary.html"


@pytest.mark.browser
def test_the_browser_checks_catch_what_they_look_for(site, chromium):
    browser, base = chromium
    canary = _canary(site)
    try:
        _set_width(browser, DESKTOP)
        browser.goto(base + canary)
        _, caught = _inspect(browser, base)
        desktop, phone = _layout(browser, DESKTOP), _layout(browser, PHONE)
    finally:
        (site / canary).unlink()
    assert caught.get("mathErrors") and caught.get("untypeset"), caught
    assert any("$$" in r for r in caught.get("raw", [])) and any("in a formula: input\\_ids" in r for r in caught["raw"]), caught
    assert caught.get("console errors"), caught
    assert any("no_such_figure" in u for u in caught.get("brokenImages", [])), caught
    assert any("cdn.example.com" in u for u in caught.get("requests to other hosts", [])), caught
    assert any("unbreakable" in p for p in desktop) and any("wider than any column" in p for p in desktop), desktop
    assert any("page scrolls sideways" in p or "wider than any column" in p for p in phone), phone
    assert any(p.startswith("scrolls sideways") and "unbreakable" in p for p in phone), phone


@pytest.mark.browser
def test_figures_open_enlarged_and_dim_in_dark_mode(site, chromium):
    browser, base = chromium
    _set_width(browser, DESKTOP)
    browser.goto(base + "lessons/kl_divergence.html")
    inline = browser.evaluate("document.querySelector('article figure img').getBoundingClientRect().width")
    browser.evaluate("document.querySelector('article figure a.glightbox').click()")
    assert browser.wait_until("(() => { const i = document.querySelector('.glightbox-container .gslide-image img');"
                              " return i && i.complete && i.naturalWidth > 0; })()", timeout=10), "no enlarged view"
    assert browser.wait_until("document.querySelector('.glightbox-container .gslide-image img')"
                              f".getBoundingClientRect().width > {1.5 * inline}", timeout=5), "not enlarged"
    browser.screenshot(ARTIFACTS / "figure-enlarged.png")
    browser.evaluate("document.querySelector('.glightbox-container .gclose').click()")
    assert browser.wait_until("!document.querySelector('.glightbox-container')", timeout=5)
    assert not [u for u in browser.requests if not u.startswith(base) and urlsplit(u).scheme != "data"]
    filters = browser.evaluate("""(() => {
      const img = document.querySelector("article figure img"), seen = [getComputedStyle(img).filter];
      document.querySelector("form[data-md-component=palette] label:not([hidden])").click();
      seen.push(document.body.getAttribute("data-md-color-scheme"), getComputedStyle(img).filter);
      return seen;
    })()""")
    assert filters[0] == "none" and filters[1] == "slate" and "invert" in filters[2], filters
    browser.evaluate("document.querySelector('article figure').scrollIntoView()")
    browser.screenshot(ARTIFACTS / "figure-dark-mode.png")
    browser.evaluate("document.querySelector('form[data-md-component=palette] label:not([hidden])').click()")


@pytest.mark.browser
def test_code_blocks_have_copy_buttons_and_the_palette_toggles(site, chromium):
    browser, base = chromium
    browser.goto(base + f"exercises/{EXERCISES[0].id}.html")
    assert browser.wait_until("document.querySelectorAll('pre > code').length > 0 && "
                              "document.querySelectorAll('pre button[data-md-type=copy]').length == "
                              "document.querySelectorAll('pre > code').length", 10)
    # The button sits in a gutter of its own, right of the code's text: it covers no code.
    covered = browser.evaluate("""[...document.querySelectorAll("pre")].filter(pre => {
      const b = pre.querySelector("button[data-md-type=copy]").getBoundingClientRect();
      const code = pre.querySelector("code"), style = getComputedStyle(code);
      return code.getBoundingClientRect().right - parseFloat(style.paddingRight) > b.left + 1;
    }).length""")
    assert covered == 0
    schemes = browser.evaluate("""(() => {
      const seen = [document.body.getAttribute("data-md-color-scheme")];
      document.querySelector("form[data-md-component=palette] label:not([hidden])").click();
      seen.push(document.body.getAttribute("data-md-color-scheme"));
      document.querySelector("form[data-md-component=palette] label:not([hidden])").click();
      return seen;
    })()""")
    assert set(schemes) == {"default", "slate"}, schemes


def test_the_quiz_page_has_every_question_and_the_home_page_the_pipeline(site):
    from grader.quiz import LETTERS, QUESTIONS, letters

    page = article(site, "quiz.html")
    quizzes = re.findall(r'<div class="quiz"[^>]*>(.*?)<section class="content hidden">(.*?)</section>', page, re.S)
    assert len(quizzes) == len(QUESTIONS)
    by_stem = {html.escape(q.stem[:50], quote=False): q for q in QUESTIONS}
    for form, explained in quizzes:  # one source: the same letters, the same key
        q = next(q for stem, q in by_stem.items() if stem in form)
        marked = "".join(LETTERS[i] for i, tag in enumerate(re.findall(r'<input type="\w+" name="answer"[^>]*>', form))
                         if "data-correct" in tag)
        assert marked == letters(q), q.id
        assert all(html.escape(o.why.split(".")[0][:40], quote=False) in explained for o in q.options), q.id
    nav = (site / "index.html").read_text(encoding="utf-8")
    assert nav.index('href="quiz.html"') > max(nav.index(f'href="lessons/{i}.html"') for i in LESSONS_IN_COURSE_ORDER)
    home = article(site, "index.html")
    boxes = re.findall(r'<div class="pipeline-box[^"]*">(.*?)</div>', home, re.S)
    linked = set(re.findall(r'href="lessons/(\w+)\.html', "".join(boxes)))
    assert len(boxes) >= 4 and {"sft", "reward_model", "ppo", "dpo", "rlaif", "rag"} <= linked, linked


@pytest.mark.browser
def test_the_quiz_reveals_an_explanation_offline(site, chromium):
    """Answer one question wrongly on the quiz page: it is marked, and every option's explanation shows."""
    from grader.quiz import QUESTIONS, letters

    browser, base = chromium
    _set_width(browser, DESKTOP)
    browser.goto(base + "quiz.html")
    q = next(q for q in QUESTIONS if len(letters(q)) == 1)
    wrong = next(i for i, o in enumerate(q.options) if not o.correct)
    assert browser.wait_until("document.querySelectorAll('.quiz').length > 0", timeout=10)
    state = f"[...document.querySelectorAll('.quiz')].find(e => e.textContent.includes({json.dumps(q.stem[:50])}))"
    hidden = browser.evaluate(f"{state}.querySelector('section.content').offsetParent === null")
    browser.evaluate(f"{state}.querySelectorAll('input[name=answer]')[{wrong}].click()")
    assert browser.wait_until(f"{state}.querySelector('section.content').offsetParent !== null", timeout=5)
    shown = browser.evaluate(f"""(() => {{ const quiz = {state};
      return {{text: quiz.querySelector('section.content').innerText,
               wrong: quiz.querySelectorAll('.wrong').length, right: quiz.querySelectorAll('.correct').length}}; }})()""")
    assert hidden and shown["wrong"] == 1 and shown["right"] >= 1, shown
    assert all(" ".join(o.why.split()[:5]) in " ".join(shown["text"].split()) for o in q.options), shown["text"]
    browser.evaluate(f"{state}.scrollIntoView()")
    browser.screenshot(ARTIFACTS / "quiz-answered.png")
    assert not browser.errors, browser.errors
    assert not [u for u in browser.requests if not u.startswith(base) and urlsplit(u).scheme not in ("data", "blob")]


def _search(browser, query: str) -> list[tuple[str, str]]:
    browser.evaluate(OPEN_SEARCH)
    # mkdocs-material says "Initializing search" until its search worker has the index.
    assert browser.wait_until("/^(?!.*Initializing).+/.test(document.querySelector('.md-search-result__meta')"
                              ".textContent.trim())", 10), \
        "the search never got ready"
    browser.evaluate(SEARCH % query)
    assert browser.wait_until("document.querySelectorAll('.md-search-result__item').length > 0", timeout=10), \
        f"searching for {query!r} found nothing"
    return [tuple(hit) for hit in browser.evaluate(HITS)]


@pytest.mark.browser
def test_search_served_and_from_files(site, chromium):
    browser, base = chromium
    browser.goto(base + "index.html")
    indexed = browser.evaluate("fetch('search/search_index.json').then(r => r.json())"
                               ".then(j => j.docs.map(d => d.location.split('#')[0]))")
    assert set(pages(site)) <= set(indexed)
    # (The home page's course map: its check commands stay on one line.)
    assert browser.evaluate("[...document.querySelectorAll('.course-map td:last-child code')]"
                            ".every(c => c.getClientRects().length === 1)")
    hits = _search(browser, "Bradley")
    assert any("lessons/dpo.html" in url for url, _ in hits), hits
    browser.goto(base + "index.html")
    hits = _search(browser, "KL")
    assert "lessons/kl_divergence.html" in hits[0][0], [url for url, _ in hits]  # the lesson first
    raw = [text for _, text in hits if TEX.search(text)]
    assert not raw, raw[:3]
    browser.screenshot(ARTIFACTS / "search.png")
    # Opened from the files, with no server: the search box still works, with no error.
    browser.goto((site / "index.html").as_uri())
    hits = _search(browser, "KL")
    assert hits[0][0].startswith("file://") and "lessons/kl_divergence.html" in hits[0][0], hits[:3]
    assert not browser.errors, browser.errors
    assert all(urlsplit(u).scheme in ("file", "data") for u in browser.requests), browser.requests
