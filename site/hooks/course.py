"""MkDocs hook that turns the repository into the course website, with one source per fact.

- Lessons are ``lessons/*.md`` (with ``lessons/figures/*.png``) in the order of mkdocs.yml's nav;
  a lesson missing from the nav is an error, not a silently hidden page.
- Exercise pages are made from the learner stub ``exercises/<id>.py`` of every exercise registered
  in ``grader.exercises.EXERCISES``: markdown cells as Markdown, code cells as Python blocks. The
  stub is never executed (no tracebacks), and ``solutions/`` is never read.
- Each lesson with an exercise gets a box linking to it with the command that checks it, and each
  exercise page links back to its lesson; the home page's course map is generated here too.
- Guides are ``guides/*.md``, whichever exist.
- MathJax is copied from the ``jupyter-server-mathjax`` wheel into ``assets/mathjax/``, so math
  renders with no network (see site/README.md).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jupytext
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

from grader.exercises import EXERCISES
from grader.mathjax import MathJaxMissing, mathjax_source

ROOT = Path(__file__).resolve().parents[2]  # the course clone
LESSONS_SECTION = "Lessons"
COURSE_MAP_MARKER = "<!-- course map -->"
MATHJAX_DEST = "assets/mathjax"


def _title(markdown: str, fallback: str) -> str:
    """The page's first level-1 heading."""
    m = re.search(r"^# (.+)$", markdown, re.M)
    return m.group(1).strip() if m else fallback


def _after_title(markdown: str, block: str) -> str:
    """Insert ``block`` right after the first level-1 heading (or at the top when there is none)."""
    m = re.search(r"^# .+$\n?", markdown, re.M)
    at = m.end() if m else 0
    return f"{markdown[:at]}\n{block}\n{markdown[at:]}"


def _lesson_ids(config) -> list[str]:
    """Lesson ids in course order, read from the nav's Lessons section."""
    for item in config["nav"]:
        if isinstance(item, dict) and LESSONS_SECTION in item:
            return [Path(p if isinstance(p, str) else next(iter(p.values()))).stem
                    for p in item[LESSONS_SECTION]]
    raise PluginError(f"mkdocs.yml: the nav needs a '{LESSONS_SECTION}' section listing lessons/*.md")


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


# --- hooks ----------------------------------------------------------------------------------


def on_config(config):
    lessons = _lesson_ids(config)
    on_disk = {p.stem for p in (ROOT / "lessons").glob("*.md")}
    if missing := sorted(on_disk - set(lessons)):
        raise PluginError(f"site/mkdocs.yml: add {', '.join(f'lessons/{m}.md' for m in missing)} to the "
                          f"nav's {LESSONS_SECTION} section, in course order")
    for e in EXERCISES:
        if e.id not in lessons:
            raise PluginError(f"exercise {e.id!r} is registered but lessons/{e.id}.md is not in the nav")
        if not (ROOT / e.stub).is_file():
            raise PluginError(f"exercise {e.id!r} is registered but {e.stub} is missing; "
                              f"run `rlhf-course stubs {e.id}`")
    at = next(i for i, item in enumerate(config["nav"]) if isinstance(item, dict) and LESSONS_SECTION in item)
    config["nav"].insert(at + 1, {"Exercises": [{e.title: f"exercises/{e.id}.md"} for e in EXERCISES]})
    guides = sorted((ROOT / "guides").glob("*.md"))
    if guides:
        config["nav"].append({"Guides": [f"guides/{p.name}" for p in guides]})
    return config


def on_files(files, config):
    def add(rel: str) -> None:
        files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))

    for pattern in ("lessons/*.md", "lessons/figures/*.png", "guides/*.md"):
        for path in sorted(ROOT.glob(pattern)):
            add(path.relative_to(ROOT).as_posix())
    for e in EXERCISES:
        files.append(File.generated(config, f"exercises/{e.id}.md",
                                    content=exercise_markdown(ROOT / e.stub)))
    return files


def on_page_markdown(markdown, page, config, files):
    path = Path(page.file.src_uri)
    by_id = {e.id: e for e in EXERCISES}
    checking = "guides/checking.md" if (ROOT / "guides" / "checking.md").is_file() else None
    if path.parent.name == "lessons" and path.stem in by_id:
        e = by_id[path.stem]
        return _after_title(markdown, (
            f'!!! example "Exercise: {e.title}"\n'
            f"    [Open the exercise](../exercises/{e.id}.md): implement `{e.stub}`, then check it with "
            f"`rlhf-course check {e.id}`."))
    if page.file.src_uri.startswith("exercises/"):
        e = by_id[path.stem]
        guide = f" ([how to check your work](../{checking}))" if checking else ""
        return _after_title(markdown, (
            f'!!! abstract "Lesson: {_title((ROOT / e.lesson).read_text(encoding="utf-8"), e.title)}"\n'
            f"    Read [the lesson](../{e.lesson}) first. In your clone of the course, open `{e.stub}`, "
            f"replace each `raise NotImplementedError()`, then run `rlhf-course check {e.id}`{guide}."))
    if page.file.src_uri == "index.md":
        if COURSE_MAP_MARKER not in markdown:
            raise PluginError(f"site/docs/index.md: the course map goes where {COURSE_MAP_MARKER} is")
        return markdown.replace(COURSE_MAP_MARKER, _course_map(config))
    return markdown


def _course_map(config) -> str:
    """Home-page table: every lesson in course order, its exercise and the command that checks it."""
    by_id = {e.id: e for e in EXERCISES}
    rows = ["| | Lesson | Exercise | Check it |", "| --- | --- | --- | --- |"]
    for n, lesson in enumerate(_lesson_ids(config), 1):
        title = _title((ROOT / "lessons" / f"{lesson}.md").read_text(encoding="utf-8"), lesson)
        e = by_id.get(lesson)
        exercise = f"[{e.title}](exercises/{e.id}.md)" if e else "reading only"
        check = f"`rlhf-course check {e.id}`" if e else ""
        rows.append(f"| {n} | [{title}](lessons/{lesson}.md) | {exercise} | {check} |")
    return "\n".join(rows)


def on_post_build(config):
    try:
        source = mathjax_source()
    except MathJaxMissing as exc:
        raise PluginError(str(exc)) from None
    # Everything but the SVG output jax (HTML-CSS is the one used): MathJax loads its parts lazily.
    shutil.copytree(source, Path(config["site_dir"]) / MATHJAX_DEST,
                    ignore=shutil.ignore_patterns("SVG"), dirs_exist_ok=True)
