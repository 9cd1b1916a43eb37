"""Write an nbgrader course directory from ``solutions/``: ``rlhf-course nbgrader COURSE_DIR``.

    COURSE_DIR/nbgrader_config.py        course id, timeouts, what the autograde kernel runs, feedback
    COURSE_DIR/source/<id>/<id>.ipynb    the reference as a notebook, with one locked grade cell per check

Each exercise's notebook is ``solutions/<id>.py`` (its solution cells already carry nbgrader metadata
and ``### BEGIN SOLUTION`` markers) with a grade cell after the last function each check calls. A grade
cell is worth its ``Check.points`` and calls ``grader.notebook.grade(<id>, <check>)``, which compares
with the stored reference outputs, so grading needs neither ``solutions/`` nor the network. Only
notebooks go into ``source/``: nbgrader copies any other file verbatim into ``release/``.
Instructors then run the stock commands (``guides/instructors.md``).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat

from grader import __version__
from grader.exercises import EXERCISES, get
from grader.course.stubs import read_solution

LOCAL_CONFIG = "nbgrader_config_local.py"


class CourseError(Exception):
    """The course cannot be written as asked; the message says why."""


def check_grade_id(check_name: str) -> str:
    """The nbgrader grade id of a check's cell (solution cells already use the function names)."""
    return f"check_{check_name}"


def grade_cell(exercise: str, check, hidden_tests: bool = False) -> nbformat.NotebookNode:
    """A locked grade cell worth ``check.points`` that runs ``check`` on the notebook's functions."""
    call = f'from grader.notebook import grade\n\ngrade("{exercise}", "{check.name}")'
    head = f"# {check.name} ({check.points} point{'s' * (check.points != 1)}): {check.description}.\n"
    if hidden_tests:
        source = (head + "# Graded when your instructor collects the assignment; to check yourself first, run\n"
                  f"#     rlhf-course check {exercise} --file <this notebook>\n"
                  f"### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS")
    else:
        source = head + "# Run this cell to check your work: grading runs the same check.\n" + call
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": check_grade_id(check.name), "locked": True,
                                 "points": check.points, "schema_version": 3, "solution": False, "task": False}
    return cell


def _defined_in(cells) -> dict[str, int]:
    """Top-level function/class name -> index of the (last) code cell that defines it."""
    where = {}
    for i, cell in enumerate(cells):
        if cell.cell_type == "code":
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    where[node.name] = i
    return where


def assignment_notebook(exercise: str, root: Path, hidden_tests: bool = False) -> nbformat.NotebookNode:
    """``solutions/<exercise>.py`` as a notebook, with each check's grade cell after the last function it calls."""
    import re

    from grader.checking import checks_module

    nb = read_solution(root / get(exercise).solution)
    where = _defined_in(nb.cells)
    after: dict[int, list] = {}
    for check in checks_module(exercise).CHECKS:
        missing = [f for f in check.functions if f not in where]
        if missing:
            raise CourseError(f"solutions/{exercise}.py defines no {', '.join(missing)} "
                              f"(called by check {check.name!r})")
        after.setdefault(max(where[f] for f in check.functions), []).append(check)
    cells = []
    for i, cell in enumerate(nb.cells):
        cells.append(cell)
        cells.extend(grade_cell(exercise, c, hidden_tests) for c in after.get(i, []))
    # Learners check the notebook itself: `rlhf-course check <id>` alone grades a clone's exercises/<id>.py.
    command = re.compile(rf"rlhf-course check {re.escape(exercise)}(?![\w-])(?!\s*--file)(?![ \t]+\w)")
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = command.sub(lambda m: f"{m.group(0)} --file {exercise}.ipynb", cell.source)
    nb.cells = cells
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def config_text(course_id: str) -> str:
    """The course's nbgrader configuration (course-wide: the cell timeout covers every exercise)."""
    from grader.checking import checks_module

    longest = max(c.timeout_s for e in EXERCISES for c in checks_module(e.id).CHECKS)
    return f'''\
# Written by `rlhf-course nbgrader` (rlhf-course {__version__}); running it again rewrites this file.
# Put your own settings in {LOCAL_CONFIG} beside it: it is loaded last, so it wins.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = {course_id!r}

# Scores come from a trusted process. Instead of executing each submission in a Jupyter kernel (where the
# student's code could change its own score, read the gradebook or the course), autograde grades it through
# the course's sandboxed executor and writes each grade cell's outcome as its output; nbgrader records it as
# usual. Students' code runs only in the sandbox (bubblewrap): no gradebook, no course directory, no network.
# Without a sandbox it refuses to grade unless you set c.SandboxedGrade.allow_unsandboxed = True (read
# guides/instructors.md first). Each check has its own time limit (at most {longest:g} s here);
# c.SandboxedGrade.timeout_scale or RLHF_COURSE_TIMEOUT_SCALE multiplies them.
c.Autograde.autograde_preprocessors = [
    "grader.course.nbgrader_autograde.SandboxedGrade",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# One bad submission cannot stop the batch: NormalizeSubmission repairs old, odd or stripped nbgrader metadata,
# puts deleted grade cells back (with a note) and drops attachments before nbgrader's own steps see them.
c.Autograde.sanitize_preprocessors = [
    "grader.course.nbgrader_autograde.NormalizeSubmission",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.OverwriteCells.add_missing_cells = False  # NormalizeSubmission does it, without nbgrader's KeyError on odd notebooks
# Submissions that need a look (unreadable, repaired, timed out, crashed) go to autograde_problems.csv, and
# `nbgrader export` adds them to the grades CSV as a needs_attention column: never mistaken for a real zero.
from grader.course.nbgrader_autograde import inspect_submission  # noqa: E402

c.Autograde.pre_convert_hook = inspect_submission
c.ExportApp.plugin_class = "grader.course.nbgrader_autograde.ExportWithProblems"

# Feedback shows the autograded notebook; remove hidden tests from it (a no-op without --hidden-tests).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grader.course.nbgrader_feedback.ClearHiddenTests",  # nbgrader's, without its warning under HTML export
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Feedback math renders offline: each page loads MathJax 2 from a copy written beside it (about 2 MB),
# feedback/<student>/<assignment>/mathjax/; hand students the whole folder. `nbgrader release_feedback`
# carries the .html alone: for students who fetch feedback that way, point
# c.FeedbackHTMLExporter.mathjax_url at a MathJax 2 they can reach (then nothing is copied).
c.GenerateFeedback.exporter_class = "grader.course.nbgrader_feedback.FeedbackHTMLExporter"

load_subconfig({LOCAL_CONFIG!r})  # noqa: F821
'''


def _refuse_released_solutions(folder: Path) -> None:
    """nbgrader releases every non-notebook file of source/<id>/ verbatim; a solution there would leak."""
    for path in sorted(folder.rglob("*.py")):
        if "### BEGIN SOLUTION" in path.read_text(encoding="utf-8", errors="replace"):
            raise CourseError(f"{path} holds solution code and nbgrader would copy it verbatim into "
                              f"release/; remove it (the notebook is all an assignment needs)")


def write_course(course_dir: Path, exercises: list[str], root: Path, course_id: str = "rlhf-course",
                 hidden_tests: bool = False) -> list[Path]:
    """Write (or refresh) the config and ``source/<id>/<id>.ipynb`` for each exercise (and the quiz, when
    ``exercises`` names it: ``grader.course.quiz_notebook``); return the paths."""
    from grader.course import quiz_notebook
    from grader.quiz import ASSIGNMENT as QUIZ

    with_quiz, exercises = QUIZ in exercises, [e for e in exercises if e != QUIZ]
    notebooks = {e: assignment_notebook(e, root, hidden_tests) for e in exercises}  # fail before writing
    if with_quiz:
        quiz_order = quiz_notebook.course_order(course_dir)
        notebooks[QUIZ] = quiz_notebook.assignment_notebook(quiz_order)
    course_dir.mkdir(parents=True, exist_ok=True)
    for e in notebooks:
        _refuse_released_solutions(course_dir / "source" / e)
    config = course_dir / "nbgrader_config.py"
    config.write_text(config_text(course_id), encoding="utf-8")
    written = [config]
    for e, nb in notebooks.items():
        nbformat.validate(nb)
        target = course_dir / "source" / e / f"{e}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    if with_quiz:
        written.append(quiz_notebook.write_order(course_dir, quiz_order))
    if exercises:
        written += write_secret_references(course_dir, exercises)
    return written


SECRET_DIR = "secret_references"  # in the course directory: never released, never in the sandbox's view


def secret_reference_path(course_dir: Path, exercise: str) -> Path:
    return course_dir / SECRET_DIR / f"{exercise}.npz"


def write_secret_references(course_dir: Path, exercises: list[str], log=print) -> list[Path]:
    """The expected observations (and the catalogue's, for hints) on inputs students cannot know: a variant
    drawn once per course (kept when the course is written again), computed from solutions/ now."""
    import secrets

    from grader.engine import judge
    from grader.course.refs import write

    existing = sorted((course_dir / SECRET_DIR).glob("*.npz"))
    variant = judge.load_file(existing[0]).variant if existing else secrets.randbelow(2**31 - 2) + 1
    log(f"computing the expected observations on the course's secret inputs: {', '.join(exercises)}")
    targets = [secret_reference_path(course_dir, e) for e in exercises]
    workers = min(len(exercises), os.cpu_count() or 1)
    if workers > 1:  # one process per exercise at a time: each runs single-threaded tiny-model checks
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            paths = list(pool.map(write, exercises, targets, [variant] * len(exercises)))
    else:
        paths = [write(e, t, variant) for e, t in zip(exercises, targets)]
    for path in paths:
        path.chmod(0o600)
    (course_dir / SECRET_DIR).chmod(0o700)
    return paths


def points_table(exercises: list[str]) -> str:
    """The grade cells of each assignment and their points, as a Markdown table."""
    from grader.checking import checks_module

    from grader.quiz import ASSIGNMENT as QUIZ
    from grader.quiz_questions import QUESTIONS

    rows = ["| assignment | grade cell | points | what it checks |", "| --- | --- | --- | --- |"]
    for e in exercises:
        if e == QUIZ:
            rows += [f"| {e} | check_{q.id} | 1 | question on {q.lesson} |" for q in QUESTIONS]
            rows.append(f"| {e} | **total** | **{len(QUESTIONS)}** | |")
            continue
        checks = checks_module(e).CHECKS
        rows += [f"| {e} | {check_grade_id(c.name)} | {c.points} | {c.description} |" for c in checks]
        rows.append(f"| {e} | **total** | **{sum(c.points for c in checks)}** | |")
    return "\n".join(rows)
