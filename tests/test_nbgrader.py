"""Real nbgrader on a temporary course, with the commands of guides/instructors.md.

One course with every exercise, one autograde run for a batch of students. Every assignment gets its
reference notebook (full marks). DPO, the full matrix, also gets the untouched released stub, one
catalogued mistake per graded function, and bad submissions (a syntax error, a deleted and an edited
grade cell with megabytes of output and warnings, an infinite loop, a dying kernel, a missing notebook,
a notebook that is not JSON). The rest of the catalogue is the meta-tests' job (tests/grader_meta.py);
here one kernel per submission would cost seconds each.
"""

from __future__ import annotations

import base64
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
from grader.course.nbgrader_course import CourseError, assignment_notebook, check_grade_id, write_course
from grader.notebook import GradeFailed, grade
from tests.reference import ROOT, solution, with_mistake

# One worker under pytest-xdist: both files read the session's nbgrader course (tests/conftest.py).
pytestmark = [pytest.mark.nbgrader, pytest.mark.xdist_group("nbgrader_course")]

EXERCISE = "dpo"  # the full matrix; the other exercises get their reference graded
IDS = [e.id for e in EXERCISES]
COURSE_ID = "rlhf-course"
# Time limits shrink 4x: the infinite loop costs seconds, not minutes, while every reference's training step
# keeps several times the time it takes on a loaded machine.
ENV = {**os.environ, "RLHF_COURSE_TIMEOUT_SCALE": "0.25"}


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


def mistake_source(mistake_id: str) -> str:
    """The catalogue's wrong implementation as notebook code: the module's private helpers, then the mistake
    under the function's own name (submissions are graded in a sandbox that cannot import tests/)."""
    import importlib
    import inspect

    module = importlib.import_module(f"tests.mistakes.{EXERCISE}")
    function = checks_module(EXERCISE).MISTAKES[mistake_id].function
    helpers = [inspect.getsource(f) for name, f in vars(module).items()
               if name.startswith("_") and inspect.isfunction(f) and f.__module__ == module.__name__]
    body = inspect.getsource(getattr(module, mistake_id)).replace(f"def {mistake_id}(", f"def {function}(", 1)
    return "\n\n".join([*helpers, body])


def with_mistake_cell(nb, mistake_id):
    """The reference notebook with one function taken from the catalogue (tests/mistakes/<id>.py)."""
    function = checks_module(EXERCISE).MISTAKES[mistake_id].function
    nb = copy.deepcopy(nb)
    defining_cell(nb, function).source = mistake_source(mistake_id)
    return nb


def one_mistake_per_function() -> list[str]:
    first = {}
    for mistake_id, mistake in checks_module(EXERCISE).MISTAKES.items():
        first.setdefault(mistake.function, mistake_id)
    return list(first.values())


MISTAKES = one_mistake_per_function()
BAD = ("syntax", "tampered", "loop", "dies", "missing", "notjson")
# Hostile or broken submissions, graded in the same batch between two honest students.
HONEST = ("aaa-honest", "zzz-honest")
CHEATS = ("cheat-patch-grade", "cheat-class-body", "cheat-helper", "cheat-frames", "cheat-replay", "cheat-solutions",
          "cheat-symlink", "cheat-symlink-helper", "cheat-hardcoded")  # each on the stub: nothing implemented


def hardcoded_dpo_loss() -> str:
    """dpo_loss that returns the public reference's stored outputs (with their gradients grafted on): it passes
    `rlhf-course check`, whose inputs are public, and must fail where the inputs are secret."""
    from grader.engine import judge

    obs = {k: v.tolist() for k, v in judge.load(EXERCISE).expected["dpo_loss"].items()}
    return f"""def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
             beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    import torch
    from grader.checks.dpo import WEIGHTS
    OBS = {obs!r}
    t = lambda key: torch.tensor(OBS[key], dtype=policy_chosen_logps.dtype)
    w = WEIGHTS[: policy_chosen_logps.shape[0]]
    graft = sum((x - x.detach()) * t(g) / w for x, g in ((policy_chosen_logps, "grad_policy_chosen"),
                (policy_rejected_logps, "grad_policy_rejected"), (ref_chosen_logps, "grad_ref_chosen")))
    extreme = bool(policy_chosen_logps.abs().max() > 500)
    return t("losses_extreme" if extreme else "losses") + graft, t("chosen_rewards"), t("rejected_rewards")
"""
ODD = ("odd-old-schema", "odd-stripped", "odd-json-not-notebook", "odd-empty", "odd-class-kill", "odd-bloated")
NEEDS_A_LOOK = ("loop", "dies", "missing", "notjson", "cheat-symlink", "odd-json-not-notebook", "odd-empty",
                "odd-class-kill", "odd-old-schema", "odd-stripped", "odd-bloated", "tampered")


def code_cell_after_imports(nb, source: str):
    """``nb`` with a code cell of ``source`` right after the first code cell (the imports)."""
    nb = copy.deepcopy(nb)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(source))
    return nb


def without_solution_cells(nb):
    """The thief deletes the stub's own definitions, which would come after the stolen ones."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("solution")]
    return nb


def hostile(course: Path, source, release) -> dict[str, tuple[str, str | None, dict]]:
    """student -> (notebook name, text, {file beside it: text, or ("symlink", target)})."""
    stub = release
    solutions, source_nb = str(ROOT / "solutions" / "dpo.py"), str(course / "source" / "dpo" / "dpo.ipynb")
    nbs = {
        "cheat-patch-grade": code_cell_after_imports(stub, "import grader.notebook\ngrader.notebook.grade = print"),
        "cheat-class-body": code_cell_after_imports(stub, (
            "class _Patch:\n    import grader.checking as checking, grader.engine.judge as judge\n"
            "    judge.close = lambda *a, **k: True\n    checking.expect_tensor = lambda *a, **k: a[1]\n"
            "    judge.verdict = lambda e, c, r, d: judge.Outcome(e, c, 'pass', points=9)\n")),
        "cheat-helper": code_cell_after_imports(stub, "import helper"),
        "cheat-frames": code_cell_after_imports(stub, (
            "class _Walk:\n    import sys\n    frame = sys._getframe()\n    while frame is not None:\n"
            "        for name in list(frame.f_globals):\n"
            "            if name in ('close', 'verdict', 'determine_grade', 'compare'):\n"
            "                frame.f_globals[name] = lambda *a, **k: True\n        frame = frame.f_back\n")),
        "cheat-replay": code_cell_after_imports(stub, (
            "class _Replay:\n    import numpy, grader, os\n"
            "    data = numpy.load(os.path.join(grader.__path__[0], 'reference', 'dpo.npz'))\n")),
        "cheat-solutions": without_solution_cells(code_cell_after_imports(stub, (
            f"class _Steal:\n    import json\n    ns = {{}}\n    for path in ({solutions!r}, {source_nb!r}):\n"
            f"        try:\n            text = open(path).read()\n        except OSError:\n            continue\n"
            f"        code = text if path.endswith('.py') else '\\n'.join(\n"
            f"            ''.join(c['source']) for c in json.loads(text)['cells'] if c['cell_type'] == 'code')\n"
            f"        exec(code, ns)\n\n\n"
            f"def sequence_logps(*a, **k):\n    return _Steal.ns['sequence_logps'](*a, **k)\n\n\n"
            f"def dpo_loss(*a, **k):\n    return _Steal.ns['dpo_loss'](*a, **k)\n\n\n"
            f"def dpo_step(*a, **k):\n    return _Steal.ns['dpo_step'](*a, **k)\n"))),
        "cheat-gradebook": code_cell_after_imports(source, (
            f"class _Gradebook:\n    import sqlite3\n    leaked = []\n"
            f"    try:\n        db = sqlite3.connect({str(course / 'gradebook.db')!r})\n"
            f"        db.execute('UPDATE grade SET manual_score = 99')\n        db.commit()\n"
            f"        leaked.append(db.execute('SELECT * FROM grade').fetchall())\n    except Exception:\n        pass\n"
            f"    try:\n        leaked.append(open({str(course / 'submitted' / 'reference' / 'dpo' / 'dpo.ipynb')!r}).read())\n"
            f"    except OSError:\n        pass\n    if leaked:\n        raise RuntimeError(str(leaked))\n")),
        "cheat-symlink-helper": without_solution_cells(code_cell_after_imports(
            stub, "from answers import sequence_logps, dpo_loss, dpo_step")),
        "cheat-hardcoded": copy.deepcopy(stub),
    }
    defining_cell(nbs["cheat-hardcoded"], "dpo_loss").source = hardcoded_dpo_loss()
    old = copy.deepcopy(source)
    for c in old.cells:
        if "nbgrader" in c.metadata:
            c.metadata.nbgrader["schema_version"] = 1
    stripped = copy.deepcopy(source)
    for c in stripped.cells:
        c.metadata.pop("nbgrader", None)
    nbs["odd-old-schema"], nbs["odd-stripped"] = old, stripped
    nbs["odd-class-kill"] = code_cell_after_imports(source, "class _Die:\n    import os\n    os._exit(1)")
    bloated = copy.deepcopy(source)
    picture = base64.b64encode(os.urandom(3_000_000)).decode()
    bloated.cells.append(nbformat.v4.new_markdown_cell("![x](attachment:x.png)\n" + "word " * 400_000,
                                                       attachments={"x.png": {"image/png": picture}}))
    next(c for c in reversed(bloated.cells) if c.cell_type == "code").outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="y" * 5_000_000)]
    nbs["odd-bloated"] = bloated
    out = {student: (f"{EXERCISE}.ipynb", nbformat.writes(nb), {}) for student, nb in nbs.items()}
    out["cheat-helper"][2]["helper.py"] = (
        "import grader.engine.judge as judge, grader.checking as checking\n"
        "judge.close = lambda *a, **k: True\nchecking.expect_tensor = lambda *a, **k: a[1]\n")
    out["cheat-symlink-helper"][2]["answers.py"] = ("symlink", ROOT / "solutions" / "dpo.py")
    out["cheat-symlink"] = (f"{EXERCISE}.ipynb", None, {f"{EXERCISE}.ipynb": ("symlink", Path(source_nb))})
    out["odd-json-not-notebook"] = (f"{EXERCISE}.ipynb", json.dumps({"cells": "none", "answer": 42}), {})
    out["odd-empty"] = (f"{EXERCISE}.ipynb", "", {})
    for student in HONEST:
        out[student] = (f"{EXERCISE}.ipynb", nbformat.writes(source), {})
    return out


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


def build_course(tmp_path_factory) -> dict:
    """The guide's sequence: rlhf-course nbgrader, generate_assignment, submissions, autograde,
    generate_feedback, export to CSV. Built once per session (``nbgrader_course`` in conftest.py) and read by
    this module and by tests/test_nbgrader_feedback.py."""
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
    for student, (name, text, beside) in hostile(course, source, release).items():
        folder = course / "submitted" / student / EXERCISE
        folder.mkdir(parents=True, exist_ok=True)
        if text is not None:
            (folder / name).write_text(text)
        for other, content in beside.items():
            if isinstance(content, tuple):
                (folder / other).symlink_to(content[1])
            else:
                (folder / other).write_text(content)
    autograde = nbgrader("autograde", "*", cwd=course)
    feedback = nbgrader("generate_feedback", "*", cwd=course)
    export = nbgrader("export", "--to", "grades.csv", cwd=course)
    assert export.returncode == 0, export.stderr
    return {"dir": course, "log": autograde.stderr, "returncode": autograde.returncode,
            "feedback_log": feedback.stderr}


@pytest.fixture
def course(nbgrader_course):
    return nbgrader_course


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
    students = {"reference", "stub", *BAD, *(f"mistake-{m}" for m in MISTAKES), *HONEST, *CHEATS, *ODD, "cheat-gradebook"}
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
    # With hidden tests, an honest student's grade cells are not "changed": the warning means tampering again.
    changed = [line for line in course["log"].splitlines() if "has changed" in line]
    assert len(changed) == 1, changed
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


def full_marks() -> float:
    return float(sum(c.points for c in checks_module(EXERCISE).CHECKS))


def test_honest_students_around_the_hostile_ones_keep_full_marks(course):
    scores = csv_scores(course["dir"])
    assert all(scores[s][0] == full_marks() for s in (*HONEST, "reference", "odd-bloated", "tampered"))


@pytest.mark.parametrize("student", CHEATS)
def test_a_cheat_scores_zero(course, student):
    assert csv_scores(course["dir"])[student][0] == 0, cell_scores(course["dir"], student)


def test_hard_coded_public_outputs_pass_at_home_and_score_zero_in_class(course, tmp_path):
    from grader.engine.supervisor import grade as grade_files

    path = tmp_path / "hardcoded.py"
    path.write_text((ROOT / "exercises" / "dpo.py").read_text().split("def dpo_loss(")[0] + hardcoded_dpo_loss())
    at_home = {r["check"]: r["status"] for r in grade_files([(EXERCISE, str(path))]).results}
    assert at_home["dpo_loss"] == "pass"  # the public inputs: a learner can fool themselves
    assert cell_scores(course["dir"], "cheat-hardcoded")[check_grade_id("dpo_loss")] == 0


@pytest.mark.parametrize("exercise", IDS)
def test_the_course_judges_on_secret_inputs_that_keep_the_catalogue(course, exercise):
    from grader.engine import judge
    from grader.course.nbgrader_course import secret_reference_path

    path = secret_reference_path(course["dir"], exercise)
    assert path.stat().st_mode & 0o077 == 0 and not list((course["dir"] / "release").rglob("*.npz"))
    secret, public = judge.load_file(path), judge.load(exercise)
    assert secret.variant != 0 and public.variant == 0
    for check, obs in public.expected.items():
        if obs:  # every check with observations sees other inputs...
            assert any(not judge.close(secret.expected[check][k], v, 1e-4, 1e-5) for k, v in obs.items()), check
        # ...on which the catalogue's mistakes are still told apart
        assert secret.mistakes[check].keys() == public.mistakes[check].keys(), check


def test_the_gradebook_and_other_students_are_out_of_reach(course):
    d = course["dir"]
    nb = nbformat.read(d / "autograded" / "cheat-gradebook" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    shown = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "RuntimeError" not in shown and "BEGIN SOLUTION" not in shown  # it read nothing to leak
    assert csv_scores(d)["cheat-gradebook"][0] == full_marks()  # its own (correct) code; nothing changed
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{d / 'gradebook.db'}", COURSE_ID) as gb:
        grades = [g for s in gb.assignment_submissions(EXERCISE) for n in s.notebooks for g in n.grades]
        assert grades and not any(g.manual_score == 99 for g in grades)


def test_odd_metadata_does_not_stop_the_batch(course):
    scores = csv_scores(course["dir"])
    assert scores["odd-old-schema"][0] == full_marks() and scores["odd-stripped"][0] == full_marks()
    assert scores["odd-class-kill"][0] == 0
    assert "KeyError" not in course["log"] and "nbgrader update" not in course["log"]


def test_outputs_and_attachments_do_not_bloat_the_results(course):
    d = course["dir"]
    assert (d / "autograded" / "odd-bloated" / EXERCISE / f"{EXERCISE}.ipynb").stat().st_size < 1_000_000
    assert (d / "feedback" / "odd-bloated" / EXERCISE / f"{EXERCISE}.html").stat().st_size < 2_000_000


def test_the_export_tells_submissions_that_need_a_look_from_zeros(course):
    with open(course["dir"] / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == EXERCISE}
    for student in NEEDS_A_LOOK:
        assert rows[student]["needs_attention"], student
    for student in ("reference", "stub", *HONEST, *(f"mistake-{m}" for m in MISTAKES)):
        assert not rows[student]["needs_attention"], (student, rows[student]["needs_attention"])
    assert rows["stub"]["score"] == "0.0"  # a real zero, with nothing to look at
    assert "symbolic link" in rows["cheat-symlink"]["needs_attention"]
    assert "not a Jupyter notebook" in rows["odd-json-not-notebook"]["needs_attention"]
    assert "empty" in rows["odd-empty"]["needs_attention"]
    assert "died" in rows["odd-class-kill"]["needs_attention"]


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
        assert "HIDDEN TESTS" not in html, page
        if page.parts[-3] != "cheat-patch-grade":  # that one imports grader.notebook itself
            assert "grader.notebook" not in html, page
    pages = {p.parts[-3]: p.read_text() for p in feedback.glob(f"*/{EXERCISE}/{EXERCISE}.html")}
    assert {"reference", "stub", "loop", "dies", "tampered", "odd-stripped", "odd-bloated", "odd-old-schema",
            *CHEATS} - {"cheat-symlink"} <= set(pages), course["feedback_log"]
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




@pytest.fixture(scope="module")
def small_course(tmp_path_factory):
    """dpo only, three groups of students graded by three `nbgrader autograde` processes at once."""
    course = tmp_path_factory.mktemp("small") / "course"
    assert run(sys.executable, "-m", "grader.cli", "nbgrader", str(course), EXERCISE, cwd=ROOT).returncode == 0
    assert nbgrader("generate_assignment", EXERCISE, cwd=course).returncode == 0
    source = course / "source" / EXERCISE / f"{EXERCISE}.ipynb"
    for group in "abc":
        for i in range(2):
            folder = course / "submitted" / f"{group}{i}" / EXERCISE
            folder.mkdir(parents=True)
            (folder / f"{EXERCISE}.ipynb").write_bytes(source.read_bytes())
        (course / "submitted" / f"{group}9" / EXERCISE).mkdir(parents=True)
        (course / "submitted" / f"{group}9" / EXERCISE / f"{EXERCISE}.ipynb").write_text("")  # one to report each
    procs = [subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", EXERCISE, "--student", f"{g}*"],
                              cwd=course, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for g in "abc"]
    return course, [p.communicate(timeout=600)[1] for p in procs]


def export_rows(course: Path) -> dict[str, dict]:
    assert nbgrader("export", "--to", "grades.csv", cwd=course).returncode == 0
    with open(course / "grades.csv", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def test_parallel_autograde_processes_share_one_gradebook(small_course):
    """The guide's large-class recipe: several `nbgrader autograde` processes at once on one SQLite gradebook
    (each with its own warm executor) lose no grade and no problem report."""
    course, logs = small_course
    assert not any("database is locked" in log for log in logs), logs
    rows = export_rows(course)
    assert {s: float(r["score"]) for s, r in rows.items() if not s.endswith("9")} == {
        f"{g}{i}": full_marks() for g in "abc" for i in range(2)}
    assert all("empty" in rows[f"{g}9"]["needs_attention"] for g in "abc")


def test_autograde_refuses_to_run_students_code_without_a_sandbox(small_course):
    course, _ = small_course
    no_sandbox = {**ENV, "RLHF_COURSE_NO_SANDBOX": "1"}
    r = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", EXERCISE, "--student", "a0", "--force"],
                       cwd=course, env=no_sandbox, capture_output=True, text=True, timeout=600)
    assert "needs a sandbox" in r.stderr
    row = export_rows(course)["a0"]
    assert float(row["score"]) == 0 and "needs a sandbox" in row["needs_attention"]
    r = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", EXERCISE, "--student", "a0", "--force",
                        "--SandboxedGrade.allow_unsandboxed=True"], cwd=course, env=no_sandbox, capture_output=True,
                       text=True, timeout=600)
    row = export_rows(course)["a0"]
    assert float(row["score"]) == full_marks() and not row["needs_attention"]  # told to: graded, problems cleared
