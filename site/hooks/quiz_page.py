"""The website's quiz page, made from the quiz's one source (``grader.quiz_questions``) for mkdocs-quiz.

Each question is a ``<quiz>`` block: the stem, the options as checkbox items (``- [x]`` for the right ones,
lettered as in ``rlhf-course quiz``), then every option's explanation, which mkdocs-quiz reveals once the
reader has answered. mkdocs-quiz ships its script and styles inside its wheel and writes them into the
page: nothing is fetched. It is enabled on this page only (front matter), so other pages carry none of it.
"""

from __future__ import annotations

from grader.quiz import LETTERS, lessons
from grader.quiz_questions import QUESTIONS, UPCOMING_LESSONS

PAGE = "quiz.md"


def _question(q, number: int) -> str:
    options = "\n".join(f"- [{'x' if o.correct else ' '}] **{LETTERS[i]}.** {o.text}" for i, o in enumerate(q.options))
    why = "\n".join(f"- **{LETTERS[i]}** ({'right' if o.correct else 'wrong'}). {o.why}" for i, o in enumerate(q.options))
    note = f"\n\n*On the usual answer key:* {q.key_note}" if q.key_note else ""
    return f"<quiz>\n**Question {number}.** {q.stem}\n\n{options}\n\n{why}{note}\n</quiz>"


def quiz_markdown(course_order: list[str], lesson_title) -> str:
    """The page: one section per lesson, in course order (lessons still being written last, unlinked)."""
    order = [lesson for lesson in course_order if lesson in lessons()]
    order += [lesson for lesson in lessons() if lesson not in order]
    parts = ["---\nquiz:\n  enabled: true\n---\n", "# Course quiz\n",
             (f"{len(QUESTIONS)} questions, from every lesson and from the syllabus. Choose an answer to see "
             "whether it is right and why each option is right or wrong; where several options are right, "
             "tick them all and press *Submit*. The same questions, with the same letters, are asked by "
             "`rlhf-course quiz` in a terminal (`--lesson ID` for one lesson), and instructors can hand them "
             "out as the nbgrader assignment `quiz`.\n"),
             "<!-- mkdocs-quiz intro -->\n"]
    number = 0
    for lesson in order:
        if lesson in course_order:
            heading = f"[{lesson_title(lesson)}](lessons/{lesson}.md)"
        else:
            heading = UPCOMING_LESSONS.get(lesson, lesson)
        parts.append(f"## {heading}\n")
        for q in (q for q in QUESTIONS if q.lesson == lesson):
            number += 1
            parts.append(_question(q, number) + "\n")
    parts.append("<!-- mkdocs-quiz results -->\n")
    return "\n".join(parts)
