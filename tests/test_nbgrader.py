"""Real nbgrader on a temporary course, with the commands of guides/instructors.md.

One course with every exercise, one autograde run for a batch of students. Every assignment gets its
reference notebook (full marks). DPO, the full matrix, also gets the untouched released stub, one
catalogued mistake per graded function, and bad submissions (a syntax error, a deleted and an edited
grade cell with megabytes of output and warnings, an infinite loop, a dying kernel, a missing notebook,
a notebook that is not JSON). The rest of the catalogue is the meta-tests' job (tests/grader_meta.py);
here one kernel per submission would cost seconds each.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from grader.checking import checks_module
from grader.engine.local import run_exercise
from grader.exercises import EXERCISES
from grader.learner import load_namespace
from grader.nbgrader_course import CourseError, assignment_notebook, check_grade_id, write_course
from grader.notebook import GradeFailed, definitions_and_grades, grade
from tests.reference import ROOT, solution, with_mistake

pytestmark = pytest.mark.nbgrader

EXERCISE = "dpo"  # the full matrix; the other exercises get their reference graded
IDS = [e.id for e in EXERCISES]
COURSE_ID = "rlhf-course"
# The kernel imports the catalogue (tests.mistakes) for the mistaken submissions; time limits shrink 20x.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "RLHF_COURSE_TIMEOUT_SCALE": "0.05"}


def run(*args, cwd):
    return subprocess.run([*args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)


def nbgrader(*args, cwd):
    return run(sys.executable, "-m", "nbgrader", *args, cwd=cwd)


# --- building submissions from the source notebook ---------------------------------------------


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def defining_cell(nb, name):
    return next(c for c in nb.cells if c.cell_type == "code" and (f"def {name}(" in c.source or f"class {name}" in c.source)
                and "nbgrader" in c.metadata)


def with_body(nb, function, body):
    """The notebook with ``function``'s solution region replaced by ``body`` (indented code)."""
    nb = copy.deepcopy(nb)
    c = defining_cell(nb, function)
    begin = c.source.index("### BEGIN SOLUTION")
    end = c.source.index("### END SOLUTION") + len("### END SOLUTION")
    c.source = c.source[:begin] + body + c.source[end:]
    return nb


def solution_body(nb, function):
    return defining_cell(nb, function).source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()


def with_mistake_cell(nb, mistake_id):
    """The reference notebook with one function taken from the catalogue (tests/mistakes/<id>.py)."""
    function = checks_module(EXERCISE).MISTAKES[mistake_id].function
    nb = copy.deepcopy(nb)
    defining_cell(nb, function).source = f"from tests.mistakes.{EXERCISE} import {mistake_id} as {function}"
    return nb


def one_mistake_per_function() -> list[str]:
    first = {}
    for mistake_id, mistake in checks_module(EXERCISE).MISTAKES.items():
        first.setdefault(mistake.function, mistake_id)
    return list(first.values())


MISTAKES = one_mistake_per_function()
BAD = ("syntax", "tampered", "loop", "dies", "missing", "notjson")


def submissions(source, release) -> dict[str, tuple[str, str]]:
    """student -> (notebook file name, file text)."""
    nbs = {"reference": source, "stub": release}
    nbs.update({f"mistake-{m}": with_mistake_cell(source, m) for m in MISTAKES})
    broken = copy.deepcopy(source)
    defining_cell(broken, "dpo_loss").source = "def dpo_loss(((:\n    pass"
    nbs["syntax"] = broken
    loud = ('import logging, sys, warnings\n    print("x" * 5_000_000)\n    print("on stderr", file=sys.stderr)\n    '
            'warnings.warn("a warning")\n    logging.getLogger("transformers").warning("a library warning")\n    ')
    tampered = with_body(source, "sequence_logps", loud + solution_body(source, "sequence_logps"))  # correct
    tampered.cells.remove(cell(tampered, check_grade_id("dpo_loss")))
    cell(tampered, check_grade_id("dpo_step")).source = "pass  # full marks, please"
    nbs["tampered"] = tampered
    nbs["loop"] = with_body(source, "sequence_logps", "while True:\n        pass")
    nbs["dies"] = with_body(source, "dpo_loss", "import os\n    os._exit(3)")
    out = {student: (f"{EXERCISE}.ipynb", nbformat.writes(nb)) for student, nb in nbs.items()}
    out["missing"] = (f"{EXERCISE} (copy).ipynb", nbformat.writes(source))  # renamed: no dpo.ipynb
    out["notjson"] = (f"{EXERCISE}.ipynb", "{ this is not a notebook")
    return out


# --- the course, graded once for the whole module -----------------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The guide's sequence: rlhf-course nbgrader, generate_assignment, submissions, autograde,
    generate_feedback, export to CSV."""
    course = tmp_path_factory.mktemp("course")
    r = run(sys.executable, "-m", "grader.cli", "nbgrader", str(course), "--hidden-tests", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    r = nbgrader("generate_assignment", "*", cwd=course)
    assert r.returncode == 0, r.stderr
    for exercise in IDS:
        folder = course / "submitted" / "reference" / exercise
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{exercise}.ipynb").write_bytes((course / "source" / exercise / f"{exercise}.ipynb").read_bytes())
    source = nbformat.read(course / "source" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    for student, (name, text) in submissions(source, release).items():
        folder = course / "submitted" / student / EXERCISE
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    autograde = nbgrader("autograde", "*", cwd=course)
    feedback = nbgrader("generate_feedback", "*", cwd=course)
    export = nbgrader("export", "--to", "grades.csv", cwd=course)
    assert export.returncode == 0, export.stderr
    return {"dir": course, "log": autograde.stderr, "returncode": autograde.returncode,
            "feedback_log": feedback.stderr}


def cell_scores(course_dir: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", COURSE_ID) as gb:
        nb = gb.find_submission_notebook(EXERCISE, EXERCISE, student)
        return {g.name: g.score for g in nb.grades}


def csv_scores(course_dir: Path, assignment: str = EXERCISE) -> dict[str, tuple[float, float]]:
    with open(course_dir / "grades.csv", newline="") as f:
        return {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(f)
                if row["assignment"] == assignment}


def outputs(course_dir: Path, student: str, grade_id: str) -> str:
    nb = nbformat.read(course_dir / "autograded" / student / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    return "\n".join(o.get("text", "") + "\n".join(o.get("traceback", [])) for o in cell(nb, grade_id).outputs)


def expected_points(ns) -> dict[str, int]:
    """What `rlhf-course check` gives the same code, per grade cell."""
    return {check_grade_id(o.check): o.points for o in run_exercise(EXERCISE, ns, torch.device("cpu"))}


# --- tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", IDS)
def test_every_reference_gets_full_marks(course, exercise):
    total = sum(c.points for c in checks_module(exercise).CHECKS)
    assert csv_scores(course["dir"], exercise)["reference"] == (total, total)


def test_every_student_is_in_the_csv_and_the_batch_finished(course):
    scores = csv_scores(course["dir"])
    total = sum(c.points for c in checks_module(EXERCISE).CHECKS)
    students = {"reference", "stub", *BAD, *(f"mistake-{m}" for m in MISTAKES)}
    assert set(scores) == students
    assert all(max_score == total for _, max_score in scores.values())
    assert scores["reference"][0] == total and scores["stub"][0] == 0


@pytest.mark.parametrize("student", ["reference", "stub", *(f"mistake-{m}" for m in MISTAKES)])
def test_each_grade_cell_scores_what_the_grader_gives(course, student):
    if student == "reference":
        ns = solution(EXERCISE)
    elif student == "stub":
        ns = load_namespace(ROOT / "exercises" / f"{EXERCISE}.py")
    else:
        ns = with_mistake(EXERCISE, student.removeprefix("mistake-"))
    assert cell_scores(course["dir"], student) == expected_points(ns)


@pytest.mark.parametrize("mistake_id", MISTAKES)
def test_a_mistake_earns_partial_credit(course, mistake_id):
    function = checks_module(EXERCISE).MISTAKES[mistake_id].function
    scores = cell_scores(course["dir"], f"mistake-{mistake_id}")
    for check in checks_module(EXERCISE).CHECKS:
        if function not in check.functions:  # the checks of the other functions keep their points
            assert scores[check_grade_id(check.name)] == check.points
    assert 0 < sum(scores.values()) < sum(c.points for c in checks_module(EXERCISE).CHECKS)


def test_bad_submissions_are_graded_with_a_reason(course):
    d, scores = course["dir"], csv_scores(course["dir"])
    # A syntax error in dpo_loss's cell: that function is missing, sequence_logps still counts.
    assert cell_scores(d, "syntax") == {"check_sequence_logps": 2, "check_dpo_loss": 0,
                                        "check_dpo_loss_variants": 0, "check_dpo_step": 0}
    assert "no function or class named `dpo_loss`" in outputs(d, "syntax", "check_dpo_loss")
    # A deleted grade cell comes back and an edited one is restored: a correct, if loud, submission keeps
    # full marks (nbgrader zeroes a grade cell that shows stderr), and its megabytes of prints do not
    # bloat the autograded notebook.
    assert scores["tampered"][0] == scores["reference"][0]
    assert "Missing grade cell check_dpo_loss" in course["log"]
    assert "check_dpo_step has changed" in course["log"]
    assert (d / "autograded" / "tampered" / EXERCISE / f"{EXERCISE}.ipynb").stat().st_size < 1_000_000
    # An infinite loop in sequence_logps times out in its checks; dpo_loss is still graded.
    assert cell_scores(d, "loop") == {"check_sequence_logps": 0, "check_dpo_loss": 3,
                                      "check_dpo_loss_variants": 1, "check_dpo_step": 0}
    assert "did not finish within" in outputs(d, "loop", "check_sequence_logps")
    # os._exit in dpo_loss ends only the grading process; the kernel grades the rest.
    assert cell_scores(d, "dies") == {"check_sequence_logps": 2, "check_dpo_loss": 0,
                                      "check_dpo_loss_variants": 0, "check_dpo_step": 0}
    assert "died" in outputs(d, "dies", "check_dpo_loss")
    # No dpo.ipynb, or one that is not JSON: zero, and nbgrader's log says why.
    assert scores["missing"][0] == 0 and "Skipping unknown notebook" in course["log"]
    assert scores["notjson"][0] == 0 and "Notebook does not appear to be JSON" in course["log"]
    assert course["returncode"] != 0  # nbgrader signals the unreadable submissions once all are graded


@pytest.mark.parametrize("exercise", IDS)
def test_release_holds_no_solution_and_no_hidden_test(course, exercise):
    release = course["dir"] / "release" / exercise
    assert [p.name for p in release.iterdir()] == [f"{exercise}.ipynb"]
    assert not list((course["dir"] / "source").rglob("*.py"))
    text = (release / f"{exercise}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "grader.notebook" not in text
    source = nbformat.read(course["dir"] / "source" / exercise / f"{exercise}.ipynb", as_version=4)
    for c in source.cells:
        for region in c.source.split("### BEGIN SOLUTION")[1:]:
            for line in region.split("### END SOLUTION")[0].splitlines():
                if len(line.strip()) > 25:  # distinctive solution lines
                    assert json.dumps(line.strip())[1:-1] not in text, line


def test_feedback_shows_reasons_but_no_hidden_test(course):
    feedback = course["dir"] / "feedback"
    for page in feedback.glob("*/*/*.html"):
        html = page.read_text()
        assert "HIDDEN TESTS" not in html and "grader.notebook" not in html, page
    pages = {p.parts[-3]: p.read_text() for p in feedback.glob(f"*/{EXERCISE}/{EXERCISE}.html")}
    assert {"reference", "stub", "loop", "dies"} <= set(pages), course["feedback_log"]
    assert "not implemented yet" in pages["stub"]
    assert "did not finish within" in pages["loop"]


@pytest.mark.parametrize("exercise", IDS)
@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_one_locked_grade_cell_per_check_after_its_functions(exercise, hidden):
    nb = assignment_notebook(exercise, ROOT, hidden_tests=hidden)
    nbformat.validate(nb)
    grade_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    checks = checks_module(exercise).CHECKS
    assert [c.metadata.nbgrader["grade_id"] for c in grade_cells] == [check_grade_id(c.name) for c in checks]
    for grade_cell, check in zip(grade_cells, checks):
        meta = grade_cell.metadata.nbgrader
        assert meta["points"] == check.points and meta["locked"] and not meta["solution"]
        call = f'grade("{exercise}", "{check.name}")'
        assert call in grade_cell.source
        assert ("### BEGIN HIDDEN TESTS" in grade_cell.source) == hidden
        before = "\n".join(c.source for c in nb.cells[: nb.cells.index(grade_cell)])
        assert all(f"def {f}(" in before or f"class {f}" in before for f in check.functions)


def test_a_solution_file_in_source_is_refused(tmp_path):
    leak = tmp_path / "source" / EXERCISE / "helpers.py"
    leak.parent.mkdir(parents=True)
    leak.write_text("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n")
    with pytest.raises(CourseError, match="verbatim"):
        write_course(tmp_path, [EXERCISE], ROOT)
    assert not (tmp_path / "nbgrader_config.py").exists()


def test_cli_needs_a_course_dir_and_prints_points(capsys):
    from grader.cli import main

    r = run(sys.executable, "-m", "grader.cli", "nbgrader", cwd=ROOT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "COURSE_DIR" in r.stderr
    assert main(["nbgrader", "--points", EXERCISE]) == 0
    out = capsys.readouterr().out
    assert all(f"| {check_grade_id(c.name)} | {c.points} |" in out for c in checks_module(EXERCISE).CHECKS)


# --- the in-notebook API, without nbgrader ------------------------------------------------------------


def test_grade_prints_a_pass_line_or_raises_the_outcome(capsys):
    grade(EXERCISE, "dpo_loss", solution(EXERCISE))
    assert capsys.readouterr().out.strip() == "dpo_loss: passed (3/3 points)"
    with pytest.raises(GradeFailed, match="not implemented yet") as failed:
        grade(EXERCISE, "dpo_loss", load_namespace(ROOT / "exercises" / f"{EXERCISE}.py"))
    assert failed.value._render_traceback_() == [f"GradeFailed: {failed.value}"]  # no source lines shown
    with pytest.raises(GradeFailed, match="beta goes inside the sigmoid"):
        grade(EXERCISE, "dpo_loss", with_mistake(EXERCISE, "beta_outside"))
    with pytest.raises(ValueError, match="no check 'nope'"):
        grade(EXERCISE, "nope", {})
    with pytest.raises(KeyError, match="unknown exercise"):
        grade("nope", "dpo_loss", {})


def test_sys_exit_in_learner_code_is_a_death_not_a_pass():
    ns = dict(solution(EXERCISE))
    ns["dpo_loss"] = lambda *args, **kwargs: sys.exit(4)
    with pytest.raises(GradeFailed, match=r"died \(exit code 4\)"):
        grade(EXERCISE, "dpo_loss", ns)


def test_autograde_kernel_runs_definitions_and_grade_calls_only():
    import ast

    source = ("import torch\nX = 3\ndef f():\n    return X\ntorch.manual_seed(0)\nfor i in range(10**9):\n    pass\n"
              "f()\ngrade('dpo', 'dpo_loss')\nfrom grader import notebook\nnotebook.grade('dpo', 'dpo_step')\n")
    kept = ast.unparse(definitions_and_grades(ast.parse(source)))
    assert [line for line in kept.splitlines() if line] == ["import torch", "X = 3", "def f():", "    return X", "grade('dpo', 'dpo_loss')",
                                 "from grader import notebook", "notebook.grade('dpo', 'dpo_step')"]


def test_grading_never_reads_solutions(tmp_path):
    """A learner's machine has no solutions/: every grade cell of the reference notebook passes while any
    attempt to open a file under solutions/ kills the process (and a forked check's death fails it)."""
    notebook = tmp_path / f"{EXERCISE}.ipynb"
    nbformat.write(assignment_notebook(EXERCISE, ROOT), notebook)
    script = f"""
import os, sys
forbidden = {str(ROOT / "solutions")!r}
sys.addaudithook(lambda event, args: event == "open" and str(args[0]).startswith(forbidden) and os._exit(97))
from grader.learner import load_namespace
from grader.checking import checks_module
from grader.notebook import grade
ns = load_namespace({str(notebook)!r})
for check in checks_module({EXERCISE!r}).CHECKS:
    grade({EXERCISE!r}, check.name, ns)
"""
    r = run(sys.executable, "-c", script, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed") == len(checks_module(EXERCISE).CHECKS)


def test_autograde_kernel_remembers_what_it_skipped_so_a_name_error_is_explained():
    import ast

    from grader.learner import SKIPPED_NAMES
    from grader.notebook import _DefinitionsOnly

    user_ns = {}
    tree = _DefinitionsOnly(user_ns).visit(ast.parse("import torch\nEPS = torch.tensor(1e-8)\nX = 3\n"))
    assert user_ns[SKIPPED_NAMES] == {"EPS"} and "EPS" not in ast.unparse(tree)
    ns = dict(solution(EXERCISE))
    exec("def dpo_loss(*args, **kwargs):\n    return EPS\n", ns)
    ns[SKIPPED_NAMES] = user_ns[SKIPPED_NAMES]
    with pytest.raises(GradeFailed, match="define `EPS` inside your function"):
        grade(EXERCISE, "dpo_loss", ns)
