"""Feedback from a person in the terminal: rate completions one by one, or compare two at a time.

On a terminal each answer is one key press (no Enter); from a pipe or a file, one line. An answer is saved,
committed, before the next item is shown, so quitting, end of input (Ctrl-D), Ctrl-C or a killed process lose
at most the answer being typed.
Items already answered by the same labeller in the same database are skipped, so a session resumes.
A ``scorer(prompt, completion) -> float`` (the current reward model) shows its score beside each completion.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from grader.capstone.feedback import RATINGS, FeedbackStore

Scorer = Callable[[str, str], float]
RATE_KEYS = {"1": 1, "2": 2, "3": 3}
COMPARE_KEYS = {"a": "a", "b": "b", "s": None}
NO_SCORER = "none yet (train a reward model first)"


def _score(scorer: Scorer | None, prompt: str, completion: str) -> str:
    return NO_SCORER if scorer is None else f"{scorer(prompt, completion):+.3f}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a file-less stream
        return False


def _read_answer(keys: TextIO) -> str | None:
    """One answer, lower-cased and stripped: a key press on a terminal, else a line; None at end of input."""
    if not _is_terminal(keys):
        line = keys.readline()
        return line.strip().lower() if line else None
    import termios
    import tty

    fd = keys.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)  # keys arrive as they are pressed, without echo; Ctrl-C still interrupts
        while True:
            # What one read returns arrived together: one key, or the bytes of one special key (an arrow's
            # escape sequence), which then counts as one invalid answer rather than three.
            chunk = os.read(fd, 64).decode("utf-8", errors="replace")
            if not chunk or "\x04" in chunk:  # Ctrl-D: end of input
                return None
            if chunk.strip():
                return chunk.strip().lower()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _ask(question: str, valid: Iterable[str], keys: TextIO, out: TextIO) -> str | None:
    """The first valid answer (lower-cased), "q" to quit, or None at end of input; anything else asks again."""
    valid, terminal = set(valid), _is_terminal(keys)
    while True:
        out.write(question)
        out.flush()
        answer = _read_answer(keys)
        if terminal:
            out.write(("" if answer is None else answer) + "\n")  # the key pressed, since the terminal does not echo it
        if answer is None or answer in valid or answer == "q":
            return answer
        how = "press" if terminal else "type"
        out.write(f"  {answer!r} is not an answer: {how} one of {', '.join(sorted(valid))} or q.\n")


def _loop(store: FeedbackStore, todo: list, show: Callable, question: str, answers: dict, save: Callable,
          what: str, keys: TextIO, out: TextIO) -> int:
    """Show each item, ask, save the answer at once; returns how many were saved. q, end of input and Ctrl-C
    stop cleanly (everything answered so far is already committed)."""
    saved, how = 0, f"All {what}"
    try:
        for i, item in enumerate(todo, 1):
            out.write(f"\n[{i}/{len(todo)}] {show(*item)}")
            answer = _ask(question, answers, keys, out)
            if answer is None or answer == "q":
                how = "End of input" if answer is None else "Quit"
                break
            out.write(f"  saved: {save(*item, answers[answer])}\n")
            saved += 1
    except KeyboardInterrupt:
        how = "Interrupted"
    out.write(f"\n{how}: {saved} saved this session, in {store.path}. Run the same command again to resume.\n")
    out.flush()
    return saved


def _todo(items: Iterable[tuple], done: set, labeller: str, what: str, store: FeedbackStore, out: TextIO) -> list:
    todo = list(dict.fromkeys(item for item in items if item not in done))
    if done:
        out.write(f"Resuming: {len(done)} already {what} by {labeller} in {store.path}.\n")
    return todo


def rate_loop(store: FeedbackStore, items: Iterable[tuple[str, str]], labeller: str = "human",
              scorer: Scorer | None = None, keys: TextIO | None = None, out: TextIO | None = None) -> int:
    """Ask for a rating of each (prompt, completion) not yet rated by ``labeller``; returns how many were saved."""
    keys, out = keys or sys.stdin, out or sys.stdout
    todo = _todo(items, store.rated(labeller), labeller, "rated", store, out)
    out.write(f"{len(todo)} completions to rate. Keys: 1 good, 2 neutral, 3 bad, q quit.\n")

    def show(prompt, completion):
        return (f"Prompt: {prompt}\nCompletion: {completion}\n"
                f"Reward model score: {_score(scorer, prompt, completion)}\n")

    def save(prompt, completion, rating):
        store.add_rating(prompt, completion, rating, labeller)
        return RATINGS[rating]

    return _loop(store, todo, show, "Rating (1 good / 2 neutral / 3 bad / q quit): ", RATE_KEYS, save, "rated",
                 keys, out)


def compare_loop(store: FeedbackStore, items: Iterable[tuple[str, str, str]], labeller: str = "human",
                 scorer: Scorer | None = None, keys: TextIO | None = None, out: TextIO | None = None) -> int:
    """Ask which of two completions is better for each (prompt, a, b) not yet compared by ``labeller``;
    returns how many answers (skips included) were saved."""
    keys, out = keys or sys.stdin, out or sys.stdout
    todo = _todo(items, store.compared(labeller), labeller, "compared", store, out)
    out.write(f"{len(todo)} pairs to compare. Keys: a or b for the better one, s skip, q quit.\n")

    def show(prompt, a, b):
        return (f"Prompt: {prompt}\nA: {a}\n   reward model score: {_score(scorer, prompt, a)}\n"
                f"B: {b}\n   reward model score: {_score(scorer, prompt, b)}\n")

    def save(prompt, a, b, choice):
        store.add_comparison(prompt, a, b, choice, labeller)
        return "skipped" if choice is None else f"{choice.upper()} is better"

    return _loop(store, todo, show, "Better (a / b / s skip / q quit): ", COMPARE_KEYS, save, "compared", keys, out)
