"""MkDocs hook that turns the repository into the course website, with one source per fact.

- Lessons are ``lessons/*.md`` (with ``lessons/figures/*.png``) in the order of mkdocs.yml's
  ``Course`` section; a lesson missing from it is an error, not a silently hidden page.
- Exercise pages are made from the learner stub ``exercises/<id>.py`` of every exercise registered
  in ``grader.exercises.EXERCISES``: markdown cells as Markdown, code cells as Python blocks. The
  stub is never executed (no tracebacks), and ``solutions/`` is never read. Each stub is also
  offered for download, as it is (``.py``) and as a notebook (``.ipynb``, made here with jupytext).
- The navigation is the course order: each lesson, numbered, followed by its exercise. Each lesson
  opens with a box linking to its exercise and ends with "Now do the exercise"; each exercise links
  back to its lesson and ends with the next lesson. The home page's course map is generated here, and
  its pipeline map (``pipeline_map.py``).
- The quiz page is made from the quiz's one source, ``grader/quiz_questions.py`` (``quiz_page.py``), for
  the mkdocs-quiz plugin; it follows the lessons in the navigation.
- The repository's address is ``extra.repository`` in mkdocs.yml, and only there: the hook puts it
  in the footer and wherever a page says ``@REPOSITORY@``.
- Figures become ``<figure>``s with one caption style ("Figure N."), review questions one style.
- Search: lessons rank above exercises, and the index's previews show formulas as plain text, not
  TeX. ``search/search_index.js`` carries the index for a site opened from ``file://``, where
  mkdocs-material cannot fetch it (``assets/javascripts/file-worker.js`` stands in for the web
  worker that Chromium refuses there).
- mkdocs-material's search worker gets a fix for a bug of lunr's that made searches for "KL" find
  nothing (``assets/javascripts/lunr-tokenset-fix.js``).
- ``404.html`` links relatively, like every other page.
- MathJax is copied from the ``jupyter-server-mathjax`` wheel into ``assets/mathjax/``, so math
  renders with no network (see site/README.md).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import jupytext
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from grader.exercises import EXERCISES
from grader.course.mathjax import MathJaxMissing, mathjax_source
from pipeline_map import pipeline_map  # beside this file (mkdocs puts a hook's folder on the path)
from quiz_page import PAGE as QUIZ_PAGE, quiz_markdown

ROOT = Path(__file__).resolve().parents[2]  # the course clone
COURSE_SECTION = "Course"
COURSE_MAP_MARKER = "<!-- course map -->"
PIPELINE_MAP_MARKER = "<!-- pipeline map -->"
REPOSITORY_MARKER = "@REPOSITORY@"
MATHJAX_DEST = "assets/mathjax"
LESSON_SEARCH_BOOST = 3  # a lesson about X ranks above an exercise that mentions X often


def _title(markdown: str, fallback: str) -> str:
    """The page's first level-1 heading."""
    m = re.search(r"^# (.+)$", markdown, re.M)
    return m.group(1).strip() if m else fallback


def _after_title(markdown: str, block: str) -> str:
    """Insert ``block`` right after the first level-1 heading (or at the top when there is none)."""
    m = re.search(r"^# .+$\n?", markdown, re.M)
    at = m.end() if m else 0
    return f"{markdown[:at]}\n{block}\n{markdown[at:]}"


def _number_title(markdown: str, number: int) -> str:
    return re.sub(r"^# (.+)$", lambda m: f"# {number}. {m.group(1)}", markdown, count=1, flags=re.M)


def _lesson_ids(config) -> list[str]:
    """Lesson ids in course order, as mkdocs.yml lists them."""
    lessons = config.extra.get("course_order")
    if lessons is None:
        raise PluginError(f"mkdocs.yml: the nav needs a '{COURSE_SECTION}' section listing lessons/*.md")
    return lessons


def _lesson_title(lesson: str) -> str:
    return _title((ROOT / "lessons" / f"{lesson}.md").read_text(encoding="utf-8"), lesson)


def _repository(config) -> str:
    url = (config.extra or {}).get("repository")
    if not url or not re.fullmatch(r"https://[^\s]+", url):
        raise PluginError("site/mkdocs.yml: set extra.repository to the course repository's https URL")
    return url.rstrip("/")


# --- exercise pages -------------------------------------------------------------------------


def _fence(code: str) -> str:
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", code)), default=0))
    return f"{ticks}python\n{code}\n{ticks}"


def exercise_markdown(stub: Path) -> str:
    """The stub notebook as Markdown: markdown cells as they are, code cells as Python blocks.

    Comment-only code cells before the first markdown cell (the "generated from" header) are left
    out: they speak to someone editing the file, not to a reader of the page.
    """
    nb = jupytext.read(stub, fmt="py:percent")
    parts, started = [], False
    for cell in nb.cells:
        source = cell.source.strip("\n")
        if cell.cell_type == "markdown":
            started = True
            parts.append(source)
        elif cell.cell_type == "code" and source.strip():
            if not started and all(line.lstrip().startswith("#") or not line.strip()
                                   for line in source.splitlines()):
                continue
            parts.append(_fence(source))
    return "\n\n".join(parts) + "\n"


def exercise_notebook(stub: Path) -> str:
    """The stub as a Jupyter notebook (what `jupytext --to ipynb` writes)."""
    return jupytext.writes(jupytext.read(stub, fmt="py:percent"), fmt="ipynb")


def _downloads(e, prefix: str = "") -> str:
    name = Path(e.stub).name
    return (f"[:material-download: {Path(name).stem}.ipynb]({prefix}{Path(name).stem}.ipynb){{: download }} "
            f"(Jupyter notebook) · [:material-download: {name}]({prefix}{name}){{: download }} "
            f"(the same, as a plain Python file in jupytext's percent format)")


# --- the course order -----------------------------------------------------------------------


def _course_pages(config) -> list[tuple[str, str, str]]:
    """``(kind, id, nav title)`` for every page of the course, in order: lesson, its exercise, ..."""
    by_id = {e.id: e for e in EXERCISES}
    out = []
    for n, lesson in enumerate(_lesson_ids(config), 1):
        out.append(("lesson", lesson, f"{n}. {_lesson_title(lesson)}"))
        if lesson in by_id:
            out.append(("exercise", lesson, f"Exercise {n}: {by_id[lesson].title}"))
    return out


def on_config(config):
    section = next((item for item in config["nav"] if isinstance(item, dict) and COURSE_SECTION in item), None)
    if section is None:
        raise PluginError(f"mkdocs.yml: the nav needs a '{COURSE_SECTION}' section listing lessons/*.md")
    lessons = [Path(p if isinstance(p, str) else next(iter(p.values()))).stem for p in section[COURSE_SECTION]]
    config.extra["course_order"] = lessons
    on_disk = {p.stem for p in (ROOT / "lessons").glob("*.md")}
    if missing := sorted(on_disk - set(lessons)):
        raise PluginError(f"site/mkdocs.yml: add {', '.join(f'lessons/{m}.md' for m in missing)} to the "
                          f"nav's {COURSE_SECTION} section, in course order")
    for e in EXERCISES:
        if e.id not in lessons:
            raise PluginError(f"exercise {e.id!r} is registered but lessons/{e.id}.md is not in the nav")
        if not (ROOT / e.stub).is_file():
            raise PluginError(f"exercise {e.id!r} is registered but {e.stub} is missing; "
                              f"run `rlhf-course stubs {e.id}`")
    # The nav interleaves: lesson 1, (its exercise), lesson 2, ... so "Next" follows the course.
    section[COURSE_SECTION] = [{title: f"{'lessons' if kind == 'lesson' else 'exercises'}/{i}.md"}
                               for kind, i, title in _course_pages(config)]
    config["nav"].append({"Quiz": QUIZ_PAGE})  # after the lessons: made from grader/quiz_questions.py
    guides = sorted((ROOT / "guides").glob("*.md"))
    if guides:
        config["nav"].append({"Guides": [f"guides/{p.name}" for p in guides]})
    repository = _repository(config)
    config.extra["social"] = [*config.extra.get("social", []),
                              {"icon": "fontawesome/brands/github", "link": repository,
                               "name": "The course repository"}]
    return config


def on_files(files, config):
    def add(rel: str) -> None:
        files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))

    for pattern in ("lessons/*.md", "lessons/figures/*.png", "guides/*.md"):
        for path in sorted(ROOT.glob(pattern)):
            add(path.relative_to(ROOT).as_posix())
    for e in EXERCISES:
        stub = ROOT / e.stub
        files.append(File.generated(config, f"exercises/{e.id}.md", content=exercise_markdown(stub)))
        files.append(File.generated(config, f"exercises/{stub.name}", content=stub.read_text(encoding="utf-8")))
        files.append(File.generated(config, f"exercises/{stub.stem}.ipynb", content=exercise_notebook(stub)))
    files.append(File.generated(config, QUIZ_PAGE, content=quiz_markdown(_lesson_ids(config), _lesson_title)))
    return files


# --- pages ----------------------------------------------------------------------------------


def _box(kind: str, title: str, body: str) -> str:
    return f'!!! {kind} "{title}"\n' + "\n".join(f"    {line}" if line else "" for line in body.splitlines())


def _review_questions(markdown: str) -> str:
    """One style for every lesson's review questions: **Question N.** text (some lessons write
    **Q1.** text, others **1. text**)."""
    m = re.search(r"^## Review questions\s*$", markdown, re.M)
    if not m:
        return markdown
    end = re.search(r"^## ", markdown[m.end():], re.M)
    stop = m.end() + end.start() if end else len(markdown)

    def question(q):
        number, text = q.group("n1") or q.group("n2"), (q.group("t1") or q.group("t2")).strip()
        return f"**Question {number}.** {text}\n{{: .review-question }}"

    pattern = re.compile(r"^(?:\*\*Q(?P<n1>\d+)\.\*\*\s*(?P<t1>.+)|\*\*(?P<n2>\d+)\.\s+(?P<t2>.+?)\*\*\s*)$", re.M)
    return markdown[:m.end()] + pattern.sub(question, markdown[m.end():stop]) + markdown[stop:]


def on_page_markdown(markdown, page, config, files):
    path = Path(page.file.src_uri)
    by_id = {e.id: e for e in EXERCISES}
    repository = _repository(config)
    markdown = markdown.replace(REPOSITORY_MARKER, repository)
    lessons = _lesson_ids(config)
    checking = "guides/checking.md" if (ROOT / "guides" / "checking.md").is_file() else None

    def next_lesson(after: str) -> str:
        i = lessons.index(after)
        if i + 1 < len(lessons):
            nxt = lessons[i + 1]
            return f"[Lesson {i + 2}: {_lesson_title(nxt)}](../lessons/{nxt}.md)"
        return ""

    if path.parent.name == "lessons" and path.stem in lessons:
        page.meta.setdefault("search", {}).setdefault("boost", LESSON_SEARCH_BOOST)
        n = lessons.index(path.stem) + 1
        markdown = _review_questions(_number_title(markdown, n))
        e = by_id.get(path.stem)
        if e:
            markdown = _after_title(markdown, _box("example", f"Exercise {n}: {e.title}", (
                f"[Open the exercise](../exercises/{e.id}.md): implement `{e.stub}`, then check it with "
                f"`rlhf-course check {e.id}`.")))
            end = _box("example", "Now do the exercise", (
                f"**[Exercise {n}: {e.title}](../exercises/{e.id}.md)** puts this lesson to work. Download it, "
                f"or open `{e.stub}` in your clone of the course, replace each `raise NotImplementedError()`, "
                f"and check it with `rlhf-course check {e.id}`.\n\n{_downloads(e, '../exercises/')}"))
        elif nxt := next_lesson(path.stem):
            end = _box("tip", "Next", f"This lesson has no exercise. Read on: {nxt}.")
        else:
            end = _box("tip", "The end", "This is the last lesson of the course.")
        return f"{markdown.rstrip()}\n\n{end}\n"
    if page.file.src_uri.startswith("exercises/"):
        e = by_id[path.stem]
        n = lessons.index(e.id) + 1
        lesson_title = _lesson_title(e.id)
        guide = f" ([how to check your work](../{checking}))" if checking else ""
        markdown = _after_title(markdown, _box("abstract", f"Lesson {n}: {lesson_title}", (
            f"Read [the lesson](../{e.lesson}) first. Then download the exercise, or open `{e.stub}` in "
            f"your clone of the course ([{repository.split('://', 1)[1]}]({repository})); replace each "
            f"`raise NotImplementedError()`, then run `rlhf-course check {e.id}`{guide}.\n\n{_downloads(e)}")))
        nxt = next_lesson(e.id)
        end = (_box("tip", "Next", f"Done and checked? Go on to {nxt}.") if nxt else
               _box("tip", "The end", "This was the course's last exercise. Well done."))
        return f"{markdown.rstrip()}\n\n{end}\n"
    if page.file.src_uri == "index.md":
        for marker in (COURSE_MAP_MARKER, PIPELINE_MAP_MARKER):
            if marker not in markdown:
                raise PluginError(f"site/docs/index.md: the {marker[5:-4]} goes where {marker} is")
        return (markdown.replace(COURSE_MAP_MARKER, _course_map(config))
                .replace(PIPELINE_MAP_MARKER, pipeline_map(_lesson_ids(config))))
    return markdown


def _course_map(config) -> str:
    """Home-page table: every lesson in course order, its exercise and the command that checks it."""
    by_id = {e.id: e for e in EXERCISES}
    rows = ["| # | Lesson | Exercise | Check it |", "| --- | --- | --- | --- |"]
    for n, lesson in enumerate(_lesson_ids(config), 1):
        e = by_id.get(lesson)
        exercise = f"[{e.title}](exercises/{e.id}.md)" if e else "reading only"
        check = f"`rlhf-course check {e.id}`" if e else ""
        rows.append(f"| {n} | [{_lesson_title(lesson)}](lessons/{lesson}.md) | {exercise} | {check} |")
    return '<div class="course-map" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"


# --- figures --------------------------------------------------------------------------------

_FIGURE = re.compile(
    r"<p>(?P<img>(?:<a [^>]*class=\"glightbox\"[^>]*>)?<img [^>]*src=\"figures/[^\"]+\"[^>]*>(?:</a>)?)</p>\s*"
    r"(?:<p>(?P<caption>(?:(?!</p>).)*)</p>)?", re.S)
_CAPTION_START = re.compile(r"^\s*Figure\s*(?::\s*|\s+)(?=made by)", re.I)


def _figures(content: str) -> str:
    """``<p><img></p><p>caption</p>`` as ``<figure><img><figcaption>Figure N. Caption</figcaption></figure>``."""
    count = 0

    def figure(m):
        nonlocal count
        count += 1
        caption = m.group("caption") or ""
        if caption.startswith("<em>") and "</em>" in caption:  # some captions are in italics, some not
            caption = caption[4:].replace("</em>", "", 1)
        caption = re.sub(r"^made by", "Made by", _CAPTION_START.sub("", caption))
        return (f'<figure class="course-figure">{m.group("img")}<figcaption><strong>Figure {count}.</strong> '
                f"{caption}</figcaption></figure>")

    return _FIGURE.sub(figure, content)


def on_page_content(html_text, page, config, files):
    if Path(page.file.src_uri).parent.name == "lessons":
        html_text = _figures(html_text)
    return html_text


# --- search ---------------------------------------------------------------------------------

_GREEK = {name: chr(code) for name, code in [
    ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3F5),
    ("varepsilon", 0x3B5), ("zeta", 0x3B6), ("eta", 0x3B7), ("theta", 0x3B8), ("vartheta", 0x3D1),
    ("iota", 0x3B9), ("kappa", 0x3BA), ("lambda", 0x3BB), ("mu", 0x3BC), ("nu", 0x3BD), ("xi", 0x3BE),
    ("pi", 0x3C0), ("rho", 0x3C1), ("sigma", 0x3C3), ("tau", 0x3C4), ("upsilon", 0x3C5), ("phi", 0x3D5),
    ("varphi", 0x3C6), ("chi", 0x3C7), ("psi", 0x3C8), ("omega", 0x3C9), ("Gamma", 0x393),
    ("Delta", 0x394), ("Theta", 0x398), ("Lambda", 0x39B), ("Xi", 0x39E), ("Pi", 0x3A0),
    ("Sigma", 0x3A3), ("Phi", 0x3A6), ("Psi", 0x3A8), ("Omega", 0x3A9)]}
_SYMBOLS = {
    "cdot": "·", "times": "×", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "lt": "<", "gt": ">",
    "ne": "≠", "neq": "≠", "approx": "≈", "sim": "∼", "propto": "∝", "mid": " | ", "Vert": "‖", "|": "‖",
    "lVert": "‖", "rVert": "‖", "lvert": "|", "rvert": "|", "infty": "∞", "sum": "Σ", "prod": "∏",
    "nabla": "∇", "partial": "∂", "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒",
    "pm": "±", "in": "∈", "ell": "ℓ", "star": "⋆", "ast": "∗", "succ": "≻", "prec": "≺", "equiv": "≡",
    "cdots": "⋯", "ldots": "…", "dots": "…", "langle": "⟨", "rangle": "⟩", "lceil": "⌈", "rceil": "⌉",
    "lfloor": "⌊", "rfloor": "⌋", "top": "⊤", "circ": "∘", "odot": "⊙", "setminus": "∖", "emptyset": "∅",
    "forall": "∀", "exists": "∃", "neg": "¬", "wedge": "∧", "vee": "∨", "cap": "∩", "cup": "∪",
    "subset": "⊂", "subseteq": "⊆", "int": "∫", "sqrt": "√", "hbar": "ħ", "{": "{", "}": "}",
    "_": "_", "%": "%", "&": "&", "#": "#", "$": "$",
}
_SPACES = {",": " ", ";": " ", ":": " ", "!": "", " ": " ", "quad": " ", "qquad": "  "}
_DROP = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
         "Biggl", "Biggr", "displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "begin",
         "end", "mathbb", "mathbf", "mathrm", "mathcal", "mathit", "mathsf", "mathtt", "boldsymbol",
         "operatorname", "text", "textbf", "textit", "texttt", "hat", "tilde", "bar", "overline", "vec",
         "underbrace", "overbrace", "frac", "tfrac", "dfrac", "binom", "tbinom", "dbinom"}


def _group(tex: str, i: int) -> tuple[str, int]:
    """The braced group (or single token) starting at ``tex[i]``, and the index after it."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        depth, j = 0, i
        while j < len(tex):
            depth += {"{": 1, "}": -1}.get(tex[j], 0)
            if depth == 0:
                return tex[i + 1:j], j + 1
            j += 1
        return tex[i + 1:], len(tex)
    if tex[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        return m.group(0), i + len(m.group(0))
    return tex[i], i + 1


def tex_to_text(tex: str) -> str:
    """A formula as plain text, for search previews: \\(-\\beta\\,k_1\\) reads "−β k₁"."""
    out, i = [], 0
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            name, i = m.group(1), i + len(m.group(0))
            if name in ("frac", "tfrac", "dfrac"):
                num, i = _group(tex, i)
                den, i = _group(tex, i)
                num, den = tex_to_text(num), tex_to_text(den)
                wrap = lambda s: s if re.fullmatch(r"[\w.·′]+", s) else f"({s})"
                out.append(f" {wrap(num)}/{wrap(den)} ")
            elif name in ("binom", "tbinom", "dbinom"):
                a, i = _group(tex, i)
                b, i = _group(tex, i)
                out.append(f"C({tex_to_text(a)}, {tex_to_text(b)})")
            elif name in ("text", "textbf", "textit", "texttt", "mathrm", "operatorname", "mathtt", "mathbf",
                          "mathit", "mathsf", "boldsymbol", "mathcal", "mathbb"):
                arg, i = _group(tex, i)
                arg = arg.replace("\\_", "_")
                out.append(arg if name.startswith("text") else tex_to_text(arg))
            elif name == "sqrt":
                arg, i = _group(tex, i)
                out.append(f"√({tex_to_text(arg)})")
            elif name in ("begin", "end"):
                _, i = _group(tex, i)
            elif name in _GREEK:
                out.append(_GREEK[name])
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
            elif name in _SPACES:
                out.append(_SPACES[name])
            elif name == "\\":
                out.append("; ")
            elif name in _DROP:
                pass
            else:
                out.append(name)  # \log, \exp, \min, \max, \KL ...
        elif c in "_^":
            arg, i = _group(tex, i + 1)
            text = tex_to_text(arg)
            table = _SUB if c == "_" else _SUP
            if text and text.translate(table) != text and all(ch in (_SUB_CHARS if c == "_" else _SUP_CHARS) for ch in text):
                out.append(text.translate(table))
            elif c == "^" and text in ("*", "∗", "⋆", "′", "⊤"):
                out.append(text)
            else:
                out.append(f"{c}{text}" if re.fullmatch(r"\w+", text) else f"{c}({text})")
        elif c in "{}":
            i += 1
        elif c == "&":
            i += 1
        elif c == "-":
            out.append("−")
            i += 1
        elif c == "'":
            out.append("′")
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip()


_SUB_CHARS = set("0123456789+-=()aehijklmnoprstuvx−")
_SUP_CHARS = set("0123456789+-=()in−")
_SUB = str.maketrans({**{k: v for k, v in zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")}, "−": "₋"})
_SUP = str.maketrans({**{k: v for k, v in zip("0123456789+-=()in", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿ")}, "−": "⁻"})
_MATH_IN_INDEX = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)


def _plain_math(text: str) -> str:
    return _MATH_IN_INDEX.sub(lambda m: tex_to_text(html.unescape(m.group(1) or m.group(2))), text)


def _clean_search_index(site_dir: Path) -> None:
    """Formulas in the search index as plain text, and the index as a script for file:// too."""
    index_file = site_dir / "search" / "search_index.json"
    if not index_file.is_file():
        return
    index = json.loads(index_file.read_text(encoding="utf-8"))
    for doc in index.get("docs", []):
        for key in ("title", "text"):
            if key in doc:
                doc[key] = _plain_math(doc[key])
    data = json.dumps(index, ensure_ascii=False, separators=(",", ":"))
    index_file.write_text(data, encoding="utf-8")
    # mkdocs-material loads this instead of fetching the JSON when the page's URL is file://.
    (site_dir / "search" / "search_index.js").write_text(f"var __index = {data}", encoding="utf-8")


# --- the 404 page ---------------------------------------------------------------------------


def _relative_404(site_dir: Path) -> None:
    """mkdocs writes 404.html with root-relative links ("/assets/..."), which break on file:// and
    on a site served below the root; it lies at the root, so plain relative links do."""
    page = site_dir / "404.html"
    if not page.is_file():
        return
    text = page.read_text(encoding="utf-8")
    text = re.sub(r'((?:href|src)=")/(?!/)', r"\1", text)
    text = text.replace('"base": "/"', '"base": "."').replace('"base":"/"', '"base":"."')
    page.write_text(text, encoding="utf-8")


LUNR_FIX = Path(__file__).resolve().parent.parent / "docs" / "assets" / "javascripts" / "lunr-tokenset-fix.js"


def _fix_search_worker(site_dir: Path) -> None:
    """Append the fix for lunr's token-set bug (see that file) to mkdocs-material's search worker."""
    fix = LUNR_FIX.read_text(encoding="utf-8")
    workers = sorted((site_dir / "assets" / "javascripts" / "workers").glob("search.*.js"))
    if not workers:
        raise PluginError("mkdocs-material's search worker is not where the hook expects it (assets/javascripts/workers/)")
    for worker in workers:
        text = worker.read_text(encoding="utf-8")
        if fix not in text:
            worker.write_text(f"{text}\n{fix}", encoding="utf-8")


def on_post_build(config):
    try:
        source = mathjax_source()
    except MathJaxMissing as exc:
        raise PluginError(str(exc)) from None
    site_dir = Path(config["site_dir"])
    # Everything but the SVG output jax (HTML-CSS is the one used): MathJax loads its parts lazily.
    shutil.copytree(source, site_dir / MATHJAX_DEST, ignore=shutil.ignore_patterns("SVG"), dirs_exist_ok=True)
    _clean_search_index(site_dir)
    _fix_search_worker(site_dir)
    _relative_404(site_dir)
