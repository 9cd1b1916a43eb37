"""The course quiz: its one source (grader/quiz_questions.py), `rlhf-course quiz` asked in a pseudo-terminal
and graded from answer sheets, and the nbgrader assignment `quiz` graded without running the student's code.
(The website's quiz page is tested with the rest of the site, in tests/test_site.py.)"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.quiz import LETTERS, QUESTIONS, letters
from grader.quiz_questions import UPCOMING_LESSONS

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "NO_COLOR": "1"}
FIRST_LESSONS = ["rl_for_lms", "sft", "kl_divergence", "reward_model", "ppo", "dpo", "rlaif", "rag"]
KL = [q for q in QUESTIONS if q.lesson == "kl_divergence"]


def quiz(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "grader.cli", "quiz", *args], cwd=ROOT, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=60)


def sheet(answers: dict[str, str]) -> str:
    return "".join(f"{qid} {a}\n" for qid, a in answers.items())


def wrong(q) -> str:
    """A wrong answer of the right shape: another single letter, or a set that differs."""
    right = letters(q)
    if len(right) == 1:
        return next(LETTERS[i] for i in range(len(q.options)) if LETTERS[i] != right)
    return right[:-1]


# --- the source -----------------------------------------------------------------------------------------------


def test_every_question_is_well_formed():
    ids = [q.id for q in QUESTIONS]
    assert len(ids) == len(set(ids)) and all(i.isidentifier() for i in ids)
    on_disk = {p.stem for p in (ROOT / "lessons").glob("*.md")}
    for q in QUESTIONS:
        assert q.lesson in on_disk or q.lesson in UPCOMING_LESSONS, q.id
        assert len(q.options) >= 3 and letters(q) and all(o.why.strip() for o in q.options), q.id
        assert len({o.text for o in q.options}) == len(q.options), q.id
        assert ("Select all that apply" in q.stem) == (len(letters(q)) > 1), q.id
        text = " ".join([q.stem, q.key_note, *(o.text + o.why for o in q.options)])
        assert not re.search(r"[\\$]", text), f"{q.id}: TeX (the terminal shows the text as it is)"


def test_the_syllabus_questions_and_three_per_lesson():
    syllabus = [q for q in QUESTIONS if q.syllabus]
    assert len(syllabus) == 11 and all(q.key_note for q in syllabus)
    constitutional = next(q for q in syllabus if q.id == "constitutional_ai")  # the correction the issue names
    right = [o.text for o in constitutional.options if o.correct]
    assert len(right) == 1 and "two responses to the same" in right[0].lower()
    for lesson in FIRST_LESSONS:
        assert sum(q.lesson == lesson and not q.syllabus for q in QUESTIONS) >= 3, lesson


def test_the_right_letter_is_not_always_the_same():
    assert len({letters(q) for q in QUESTIONS}) >= 4


# --- rlhf-course quiz, from an answer sheet -------------------------------------------------------------------


def test_a_right_sheet_passes_and_a_wrong_one_is_explained(tmp_path):
    right = tmp_path / "right.txt"
    right.write_text("# my answers\n" + sheet({q.id: letters(q).lower() for q in KL}))
    r = quiz("--lesson", "kl_divergence", "--answers", str(right))
    assert r.returncode == 0 and f"Score: {len(KL)}/{len(KL)}" in r.stdout, r.stdout + r.stderr
    answers = {q.id: wrong(q) for q in KL[:2]}
    r = quiz("--lesson", "kl_divergence", "--answers", "-", stdin=sheet(answers))
    assert r.returncode == 1 and f"Score: 0/{len(KL)} ({len(KL) - 2} not answered)" in r.stdout
    first = KL[0]
    assert f"you chose {answers[first.id]}; the answer is {letters(first)}" in r.stdout
    for o in first.options:  # every option explained
        assert " ".join(o.why.split()[:6]) in " ".join(r.stdout.split())


def test_json_report(tmp_path):
    answers = {KL[0].id: letters(KL[0]), KL[1].id: wrong(KL[1])}
    r = quiz("--lesson", "kl_divergence", "--answers", "-", "--json", stdin=json.dumps(answers))
    report = json.loads(r.stdout)
    assert r.returncode == 1 and report["right"] == 1 and report["total"] == len(KL)
    by_id = {q["id"]: q for q in report["questions"]}
    assert by_id[KL[0].id]["right"] and not by_id[KL[1].id]["right"] and by_id[KL[2].id]["answer"] is None
    assert by_id[KL[1].id]["expected"] == letters(KL[1]) and all(o["why"] for o in by_id[KL[1].id]["options"])


single = next(q for q in QUESTIONS if len(letters(q)) == 1)


@pytest.mark.parametrize("text, message", [
    ("kl_rol A\n", "unknown question 'kl_rol'; did you mean 'kl_role'?"),
    (f"{single.id} Z\n", "Z is not an option; choose from A, B, C, D"),
    (f"{single.id} AB\n", "choose one letter"),
    (f"{single.id} A\n{single.id} B\n", "answered twice"),
    (f"{single.id}\n", "is not '<question id> <letters>'"),
    ("{not json", "not valid JSON"),
    (json.dumps({single.id: 3}), "the answer must be letters in quotes"),
])
def test_a_bad_answer_sheet_is_one_line(text, message):
    r = quiz("--answers", "-", stdin=text)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--answers", "no/such/sheet.txt"], "cannot read the answer sheet"),
    (["--json"], "--json grades an answer sheet"),
    (["--lesson", "kl"], "no quiz questions for lesson 'kl'"),
    (["--lesson", "ppo", "--answers", "-"], "is not one of the questions chosen"),
])
def test_bad_arguments_are_one_line(args, message):
    r = quiz(*args, stdin=f"{KL[0].id} A\n")
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_the_quiz_does_not_import_torch(tmp_path):
    (tmp_path / "sheet.txt").write_text(sheet({KL[0].id: letters(KL[0])}))
    code = ("import sys; from grader.cli import main; main(['quiz', '--lesson', 'kl_divergence', '--answers', "
            f"{str(tmp_path / 'sheet.txt')!r}]); print('torch loaded:', 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert "torch loaded: False" in r.stdout, r.stdout + r.stderr


# --- rlhf-course quiz, asked in a terminal ------------------------------------------------------------------------


def test_asked_in_a_terminal():
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "grader.cli", "quiz", "--lesson", "kl_divergence"], cwd=str(ROOT),
                          env=ENV, encoding="utf-8", timeout=30, dimensions=(40, 120))
    try:
        child.expect(rf"Question 1/{len(KL)} \(KL divergence\) \[{KL[0].id}\]")
        child.expect("answer> ")
        child.sendline("Z")  # not an option: asked again
        child.expect("Z is not an option")
        child.expect("answer> ")
        child.sendline(letters(KL[0]).lower())
        child.expect(f"Right: {letters(KL[0])}")
        child.expect(rf"Question 2/{len(KL)}")
        child.expect("answer> ")
        child.sendline(wrong(KL[1]))
        child.expect(f"Wrong: you chose {wrong(KL[1])}; the answer is {letters(KL[1])}")
        child.expect("answer> ")
        child.sendline("")  # skipped
        child.expect("Not answered")
        child.expect("answer> ")
        child.sendline("q")
        child.expect(f"Score: 1/{len(KL)} \\({len(KL) - 2} not answered\\)")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1


# --- the nbgrader assignment --------------------------------------------------------------------------------------


def test_hidden_asserts_agree_with_the_key():
    """Stock nbgrader executes the hidden tests: with the right answers they pass, with a wrong one they fail."""
    import random

    from grader.course.quiz_notebook import assignment_notebook, draw_order, reordered

    order = draw_order(random.Random(0))
    nb = assignment_notebook(order)
    grade_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(grade_cells) == len(QUESTIONS)
    for q, cell in zip(QUESTIONS, grade_cells):
        shown = reordered(q, order[q.id])
        exec(cell.source, {f"answer_{q.id}": letters(shown)})
        with pytest.raises(AssertionError):
            exec(cell.source, {f"answer_{q.id}": wrong(shown)})


def _answered(release, order, answer_of) -> str:
    """The released notebook with each answer cell filled in by ``answer_of(question as shown)``."""
    import nbformat

    from grader.course.quiz_notebook import reordered, variable

    nb = copy.deepcopy(release)
    by_variable = {variable(q): reordered(q, order[q.id]) for q in QUESTIONS}
    for cell in nb.cells:
        m = re.match(r"(answer_\w+) = ", cell.source) if cell.cell_type == "code" else None
        if m:
            cell.source = f"{m.group(1)} = {answer_of(by_variable[m.group(1)])}"
    return nbformat.writes(nb)


@pytest.mark.nbgrader
def test_the_quiz_assignment_grades_a_right_and_a_wrong_sheet(tmp_path):
    import nbformat
    from nbgrader.api import Gradebook

    from grader.course.nbgrader_course import write_course
    from grader.course.quiz_notebook import read_order

    course = tmp_path / "course"
    write_course(course, ["quiz"], ROOT)  # what `rlhf-course nbgrader COURSE quiz` does
    r = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "quiz"], cwd=course, env=ENV,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    release_file = course / "release" / "quiz" / "quiz.ipynb"
    assert [p.name for p in release_file.parent.iterdir()] == ["quiz.ipynb"]
    released = release_file.read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in released and "assert" not in released and "as_letters" not in released
    order = read_order(course)
    assert any(order[q.id] != sorted(order[q.id]) for q in QUESTIONS)  # this course's letters, not the public ones
    release = nbformat.read(release_file, as_version=4)
    sheets = {
        "right": _answered(release, order, lambda q: repr(letters(q))),
        "wrong": _answered(release, order, lambda q: repr(wrong(q))),
        # Not a string literal: never run, so an object equal to every answer earns nothing.
        "cheat": _answered(release, order, lambda q: 'type("Any", (str,), {"__eq__": lambda s, o: True})("")'),
    }
    for student, text in sheets.items():
        folder = course / "submitted" / student / "quiz"
        folder.mkdir(parents=True)
        (folder / "quiz.ipynb").write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "quiz"], cwd=course, env=ENV,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rlhf-course") as gb:
        scores = {s: gb.find_submission("quiz", s).score for s in sheets}
    assert scores == {"right": len(QUESTIONS), "wrong": 0, "cheat": 0}
    graded = nbformat.read(course / "autograded" / "wrong" / "quiz" / "quiz.ipynb", as_version=4)
    outputs = "\n".join(o.get("evalue", "") + "".join(o.get("traceback", [])) for c in graded.cells
                        for o in c.get("outputs", []))
    assert "you chose" in outputs and "hint:" in outputs
