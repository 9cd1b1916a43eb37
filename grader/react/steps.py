"""Reading one ReAct step from a model's text, and writing a tool's result back into the transcript.

A step is what the model writes between two observations:

    Thought: d02 gives both sizes; divide them.
    Action: calculator[175 / 1.3]

or, at the end,

    Thought: ...
    Final Answer: about 135 times fewer [d02]

``parse_step`` cuts the text at the first line that starts with ``Observation:`` (the stop sequence:
what follows is the model inventing a tool's result, which only the tool may write) and returns a
``Step`` with the thought and either an action, a final answer, or an ``error`` that says in one line
how to write the step instead. The loop shows that error to the model as its observation, so a slip
costs one step, not the episode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STOP = "Observation:"  # a line starting with this ends the model's step
MAX_OBSERVATION_CHARS = 1000  # a tool's result is cut here: every observation is read again at every step

_MARKER = re.compile(r"^\s*(Thought|Action|Final Answer)\s*:\s?(.*)$", re.IGNORECASE)
_ACTION = re.compile(r"^([A-Za-z_]\w*)\s*\[(.*)\]\s*$", re.DOTALL)
_OBSERVATION_LINE = re.compile(rf"^\s*{STOP}", re.IGNORECASE | re.MULTILINE)
EXAMPLE_ACTION = "Action: calculator[2 * (3 + 4)]"


@dataclass
class Step:
    """One model step: ``text`` as kept in the transcript, and what it asks for (exactly one of
    ``tool`` with ``argument``, ``answer``, or ``error``). ``discarded`` is text after the stop sequence."""

    text: str
    thought: str = ""
    tool: str | None = None
    argument: str | None = None
    answer: str | None = None
    error: str | None = None
    discarded: str = ""


def parse_step(output: str) -> Step:
    """The step in a model's output: thought, then one action or a final answer, or an error to show it."""
    stop = _OBSERVATION_LINE.search(output)
    kept, discarded = (output[:stop.start()], output[stop.start():]) if stop else (output, "")
    kept = kept.strip()
    fields: dict[str, list[str]] = {}
    current = None
    for line in kept.splitlines():
        m = _MARKER.match(line)
        if m:
            current = m.group(1).lower()
            fields.setdefault(current, []).append(m.group(2).strip())
        elif current is not None:  # a continuation line belongs to the field above it
            fields[current][-1] = f"{fields[current][-1]}\n{line.strip()}".strip()
    step = Step(text=kept, thought="\n".join(fields.get("thought", [])), discarded=discarded.strip())
    actions, answers = fields.get("action", []), fields.get("final answer", [])
    if actions and answers:
        step.error = "the step has both an Action and a Final Answer; write one of them"
    elif len(actions) > 1 or len(answers) > 1:
        step.error = "write one Action (or one Final Answer) per step, then wait for its Observation"
    elif answers:
        step.answer = answers[0]
        if not step.answer:
            step.error = "the Final Answer is empty"
    elif actions:
        m = _ACTION.match(actions[0])
        if m is None:
            step.error = f"malformed action {actions[0]!r}: write Action: tool[argument], e.g. {EXAMPLE_ACTION}"
        else:
            step.tool, step.argument = m.group(1).lower(), m.group(2).strip()
    else:
        step.error = "no Action and no Final Answer: end the step with Action: tool[argument] or Final Answer: ..."
    return step


def observation_line(text: str) -> str:
    """A tool's result as one transcript line: whitespace (newlines included) collapsed, cut at
    MAX_OBSERVATION_CHARS. One line, so that nothing a document says can start a line of its own
    that reads like the model's ``Thought:`` or ``Final Answer:``."""
    flat = " ".join(text.split())
    if len(flat) > MAX_OBSERVATION_CHARS:
        flat = flat[:MAX_OBSERVATION_CHARS].rstrip() + " ...(cut)"
    return f"{STOP} {flat}"
