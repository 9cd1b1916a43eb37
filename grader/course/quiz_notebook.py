"""The course quiz as the nbgrader assignment ``quiz``, made from ``grader.quiz_questions`` (its one source).

    source/quiz/quiz.ipynb        per question: a markdown cell (the question and its lettered options), an
                                  answer cell ``answer_<id> = ""`` and a locked grade cell (1 point) whose
                                  hidden test asserts the right letters
    secret_references/quiz.json   this course's order of each question's options (never released)

What a student can see. The released notebook holds the questions and empty answer cells; nbgrader removes
the hidden tests, so the key is not in it. The questions and their explanations are public (the website and
``rlhf-course quiz`` show them), so each course shows every question's options in an order of its own, drawn
once and kept in ``secret_references/``: the letters of the public key are not this course's answers.

How it is graded. The course's autograde (``grader.course.nbgrader_autograde.SandboxedGrade``) runs nothing the
student wrote: it reads each ``answer_<id> = "..."`` assignment from the notebook's code as a literal and
grades it here, so no submission can fake its score (an object equal to every string, say). Stock nbgrader,
which executes the notebook, runs the hidden asserts instead; both grade against the same key.
"""

from __future__ import annotations

import ast
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from grader.course.nbgrader_course import SECRET_DIR
from grader.quiz import ASSIGNMENT, LETTERS, AnswerError, lesson_title, letters, normalise
from grader.quiz_questions import QUESTIONS, Question

if TYPE_CHECKING:
    from grader.engine.judge import Outcome

ORDER_FILE = "quiz.json"  # in the course's secret_references/


def variable(q: Question) -> str:
    return f"answer_{q.id}"


def grade_id(q: Question) -> str:
    return f"check_{q.id}"  # as the exercises' grade cells: the autograde maps check_<name> to an outcome


def reordered(q: Question, order: list[int]) -> Question:
    """``q`` with its options in the course's order (``order``: indices into the public order)."""
    from dataclasses import replace

    return replace(q, options=tuple(q.options[i] for i in order))


def draw_order(rng=None) -> dict[str, list[int]]:
    rng = rng or secrets.SystemRandom()
    return {q.id: rng.sample(range(len(q.options)), len(q.options)) for q in QUESTIONS}


def course_order(course_dir: Path) -> dict[str, list[int]]:
    """This course's option orders: kept from an earlier run, with new questions drawn afresh."""
    path = course_dir / SECRET_DIR / ORDER_FILE
    kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    fresh = draw_order()
    return {q.id: kept[q.id] if sorted(kept.get(q.id, [])) == list(range(len(q.options))) else fresh[q.id]
            for q in QUESTIONS}


def write_order(course_dir: Path, order: dict[str, list[int]]) -> Path:
    folder = course_dir / SECRET_DIR
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / ORDER_FILE
    path.write_text(json.dumps(order, indent=1), encoding="utf-8")
    path.chmod(0o600)
    return path


def read_order(course_dir: Path) -> dict[str, list[int]] | None:
    path = course_dir / SECRET_DIR / ORDER_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


# --- the notebook ------------------------------------------------------------------------------------------


def _question_markdown(q: Question, number: int) -> str:
    options = "\n".join(f"- **{LETTERS[i]}.** {o.text}" for i, o in enumerate(q.options))
    many = " Several options are right: give all their letters." if len(letters(q)) > 1 else ""
    return f"### Question {number} ({lesson_title(q.lesson)})\n\n{q.stem}{many}\n\n{options}"


def _grade_cell(q: Question) -> nbformat.NotebookNode:
    source = (f"# {q.id} (1 point): graded when your instructor collects the quiz.\n"
              f"### BEGIN HIDDEN TESTS\nfrom grader.quiz import as_letters\n\n"
              f"assert as_letters({q.id!r}, {variable(q)}) == {letters(q)!r}\n### END HIDDEN TESTS")
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id(q), "locked": True, "points": 1,
                                 "schema_version": 3, "solution": False, "task": False}
    return cell


def assignment_notebook(order: dict[str, list[int]]) -> nbformat.NotebookNode:
    intro = nbformat.v4.new_markdown_cell(
        "# Course quiz\n\nFor each question, put the letter of your answer in quotes in the cell below it, "
        "e.g. `answer_kl_role = \"B\"`; where several options are right, give all their letters, e.g. `\"AC\"`. "
        "Each question is worth 1 point, for exactly the right letters. Write the answers as plain strings: "
        "the grader reads them without running your notebook.")
    cells = [intro]
    for n, q in enumerate(QUESTIONS, 1):
        q = reordered(q, order[q.id])
        cells += [nbformat.v4.new_markdown_cell(_question_markdown(q, n)),
                  nbformat.v4.new_code_cell(f'{variable(q)} = ""  # your letter(s), e.g. "B"'),
                  _grade_cell(q)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


# --- grading a submission, without running it ---------------------------------------------------------------

_NOT_A_STRING = object()


def answers_in(nb) -> dict[str, object]:
    """``answer_<id>`` -> the string assigned to it last in the notebook's code cells (``_NOT_A_STRING`` when
    it is assigned something other than a string literal). Grade cells and unparsable cells are skipped."""
    found: dict[str, object] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                if name.startswith("answer_"):
                    value = node.value
                    found[name] = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) \
                        else _NOT_A_STRING
    return found


def outcomes(nb, order: dict[str, list[int]]) -> dict[str, Outcome]:
    """check name (the question id) -> its outcome, with the explanations as the hint."""
    from grader.engine.judge import Outcome

    given = answers_in(nb)
    out = {}
    for public in QUESTIONS:
        q = reordered(public, order[public.id])
        answer, right = given.get(variable(q)), letters(q)
        if answer is _NOT_A_STRING:
            message, picked = f"{variable(q)} must be a string in quotes, like \"B\", not an expression", None
        elif not answer:
            message, picked = "not answered", None
        else:
            try:
                picked = normalise(answer, q)
                message = "right" if picked == right else f"you chose {picked}"
            except AnswerError as exc:
                picked, message = None, str(exc).split(": ", 1)[1]
        passed = picked == right
        shown = set(right) | set(picked or "")  # why the chosen options are wrong, and why the right ones are right
        why = " ".join(f"{LETTERS[i]}: {o.why}" for i, o in enumerate(q.options) if LETTERS[i] in shown)
        out[q.id] = Outcome(ASSIGNMENT, q.id, "pass" if passed else "fail", message,
                            expected=None if passed else right, got=picked, hint=None if passed else why,
                            points=int(passed), max_points=1)
    return out
