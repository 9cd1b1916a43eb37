"""The course quiz, graded: answers are letters ("B", or "AC" where several options are right).

    rlhf-course quiz                        ask in the terminal, one question at a time, explaining each
    rlhf-course quiz --lesson ppo           only one lesson's questions
    rlhf-course quiz --answers sheet.txt    grade an answer sheet (``-`` reads standard input); --json too

The questions are ``grader.quiz_questions.QUESTIONS``, the quiz's one source: the website's quiz page
and the nbgrader assignment ``quiz`` (``grader.course.quiz_notebook``) are made from it too. An answer sheet is
one ``<question id> <letters>`` per line (``#`` starts a comment), or a JSON object of the same.
Nothing here imports torch: the quiz starts at once.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import textwrap
from dataclasses import dataclass

from grader.quiz_questions import QUESTIONS, UPCOMING_LESSONS, Question

LETTERS = "ABCDEFGHIJ"
ASSIGNMENT = "quiz"  # the nbgrader assignment's name


class AnswerError(ValueError):
    """An answer or an answer sheet that cannot be graded; the message says why, in one line."""


def letters(q: Question) -> str:
    """The right answer, e.g. "B" or "AC"."""
    return "".join(LETTERS[i] for i, o in enumerate(q.options) if o.correct)


def lessons() -> list[str]:
    """The lessons that have questions, in the order of the bank."""
    return list(dict.fromkeys(q.lesson for q in QUESTIONS))


def select(lesson: str | None = None) -> list[Question]:
    if lesson is None:
        return list(QUESTIONS)
    if lesson not in lessons():
        close = difflib.get_close_matches(lesson, lessons(), n=1, cutoff=0.5)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise AnswerError(f"no quiz questions for lesson {lesson!r}; {guess}choose from {', '.join(lessons())}")
    return [q for q in QUESTIONS if q.lesson == lesson]


def lesson_title(lesson: str) -> str:
    """The lesson's own first heading when the course's lessons/ is at hand, else a name the bank gives."""
    from grader.exercises import course_root

    root = course_root()
    path = root / "lessons" / f"{lesson}.md" if root else None
    if path and path.is_file():
        m = re.search(r"^# (.+)$", path.read_text(encoding="utf-8"), re.M)
        if m:
            return m.group(1).strip()
    return UPCOMING_LESSONS.get(lesson, lesson)


def normalise(answer, q: Question) -> str:
    """``answer`` as sorted letters ("c, a" -> "AC"); AnswerError if it is not an answer to ``q``."""
    if not isinstance(answer, str):
        raise AnswerError(f"{q.id}: the answer must be letters in quotes, like \"B\" (got {answer!r})")
    picked = re.sub(r"[\s,;/]+", "", answer).upper()
    allowed = LETTERS[:len(q.options)]
    if not picked:
        raise AnswerError(f"{q.id}: no answer given; choose from {', '.join(allowed)}")
    wrong = sorted(set(picked) - set(allowed))
    if wrong:
        raise AnswerError(f"{q.id}: {', '.join(wrong)} is not an option; choose from {', '.join(allowed)}")
    if len(letters(q)) == 1 and len(set(picked)) > 1:
        raise AnswerError(f"{q.id}: choose one letter (this question has one right answer), not {picked}")
    return "".join(sorted(set(picked)))


def as_letters(question_id: str, answer) -> str:
    """What the nbgrader quiz's hidden tests compare: the answer's sorted letters, "" if it is no answer."""
    q = next(q for q in QUESTIONS if q.id == question_id)
    try:
        return normalise(answer, q)
    except AnswerError:
        return ""


@dataclass(frozen=True)
class Graded:
    question: Question
    given: str | None  # normalised letters; None when not answered

    @property
    def right(self) -> bool:
        return self.given == letters(self.question)

    def to_dict(self) -> dict:
        q = self.question
        return {"id": q.id, "lesson": q.lesson, "answer": self.given, "expected": letters(q), "right": self.right,
                "options": [{"letter": LETTERS[i], "text": o.text, "correct": o.correct, "why": o.why}
                            for i, o in enumerate(q.options)],
                **({"key_note": q.key_note} if q.key_note else {})}


def parse_sheet(text: str, chosen: list[Question]) -> dict[str, str]:
    """An answer sheet's answers to ``chosen``, normalised; AnswerError names the first problem."""
    text = text.strip()
    raw: dict[str, object] = {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AnswerError(f"the answer sheet is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise AnswerError("a JSON answer sheet must be an object: {\"question_id\": \"B\", ...}")
        raw = data
    else:
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"(\w+)(?:\s*[:=]\s*|\s+)(.+)", line)
            if not m:
                raise AnswerError(f"line {n} of the answer sheet is not '<question id> <letters>': {line!r}")
            if m.group(1) in raw:
                raise AnswerError(f"line {n}: {m.group(1)} is answered twice")
            raw[m.group(1)] = m.group(2).strip().strip("\"'")
    by_id = {q.id: q for q in chosen}
    every = {q.id for q in QUESTIONS}
    answers = {}
    for qid, answer in raw.items():
        if qid not in by_id:
            if qid in every:
                raise AnswerError(f"{qid} is not one of the questions chosen (see --lesson)")
            close = difflib.get_close_matches(qid, every, n=1, cutoff=0.6)
            raise AnswerError(f"unknown question {qid!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
        answers[qid] = normalise(answer, by_id[qid])
    return answers


def grade(chosen: list[Question], answers: dict[str, str]) -> list[Graded]:
    return [Graded(q, answers.get(q.id)) for q in chosen]


# --- showing questions and explanations in a terminal ----------------------------------------------------


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    width = max(40, min(100, shutil.get_terminal_size((100, 24)).columns) - 1)
    return textwrap.wrap(text, width, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent, break_on_hyphens=False) or [indent]


def question_lines(q: Question, number: int, total: int) -> list[str]:
    lines = [f"Question {number}/{total} ({lesson_title(q.lesson)}) [{q.id}]", *_wrap(q.stem, "")]
    for i, o in enumerate(q.options):
        lines += _wrap(o.text, "     ", f"  {LETTERS[i]}. ")
    return lines


def explanation_lines(g: Graded, paint=lambda text, style: text) -> list[str]:
    q = g.question
    if g.given is None:
        head = paint("Not answered", "todo") + f": the answer is {letters(q)}."
    elif g.right:
        head = paint("Right", "pass") + f": {letters(q)}."
    else:
        head = paint("Wrong", "fail") + f": you chose {g.given}; the answer is {letters(q)}."
    lines = [head]
    for i, o in enumerate(q.options):
        mark = paint("right", "pass") if o.correct else paint("wrong", "fail")
        lines += _wrap(f"{o.why}", "       ", f"  {LETTERS[i]} {mark} ")
    if q.key_note:
        lines += _wrap(q.key_note, "  ", "  On the usual answer key: ")
    return lines


def score_line(graded: list[Graded]) -> str:
    right, answered = sum(g.right for g in graded), sum(g.given is not None for g in graded)
    skipped = len(graded) - answered
    return f"Score: {right}/{len(graded)}" + (f" ({skipped} not answered)" if skipped else "")


def ask(chosen: list[Question], out, read=input) -> list[Graded]:
    """Ask each question, explain it at once; Enter skips a question, q (or end of input) stops."""
    out.line(f"{len(chosen)} question{'s' * (len(chosen) != 1)}. Answer with letters, e.g. B, or AC where "
             "several options are right; Enter skips, q stops.")
    graded = []
    for n, q in enumerate(chosen, 1):
        out.line()
        for line in question_lines(q, n, len(chosen)):
            out.line(line)
        while True:
            try:
                reply = read("answer> ").strip()
            except EOFError:
                reply = "q"
            if reply.lower() in ("q", "quit"):
                graded += [Graded(rest, None) for rest in chosen[n - 1:]]
                return graded
            if not reply:
                given = None
                break
            try:
                given = normalise(reply, q)
                break
            except AnswerError as exc:
                out.line(out.paint(str(exc).split(": ", 1)[1], "todo"))
        g = Graded(q, given)
        graded.append(g)
        for line in explanation_lines(g, out.paint):
            out.line(line)
    return graded
