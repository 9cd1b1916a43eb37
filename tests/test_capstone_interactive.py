"""The capstone's terminal loops (grader/capstone/interactive.py) through a real pseudo-terminal (pexpect):
ratings, A/B comparisons, invalid keys, quit, end of input, Ctrl-C, resuming, and SIGKILL mid-session. On a
terminal an answer is one key press; the commands' own test feeds lines through a pipe-like stream."""

import io
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import pexpect
import pytest

from grader.capstone import task
from grader.capstone.feedback import FeedbackStore

ROOT = Path(__file__).resolve().parents[1]
ITEMS = [("How do I make tea?", "Happy to help! Pour hot water on a tea bag."),
         ("How do I make tea?", "Ugh, what a silly question. Go away."),
         ("How can I sleep better?", "Good question. Go to bed at the same time each night.")]
PAIRS = [("How do I make tea?", ITEMS[0][1], ITEMS[1][1]), ("How can I sleep better?", "Nobody cares.", ITEMS[2][1]),
         ("How do I boil an egg?", "Boil it for eight minutes.", "Whatever.")]
RATE_PROMPT = r"Rating \(1 good / 2 neutral / 3 bad / q quit\): "
COMPARE_PROMPT = r"Better \(a / b / s skip / q quit\): "

# The loops as the CLI runs them, on fixed items (no model: each spawn starts in a fraction of a second).
DRIVER = """
import sys
from grader.capstone import task
from grader.capstone.feedback import FeedbackStore
from grader.capstone.interactive import compare_loop, rate_loop
mode, db, scored = sys.argv[1], sys.argv[2], sys.argv[3] == "scored"
scorer = (lambda prompt, completion: len(completion) / 10) if scored else None
with FeedbackStore(db) as store:
    if mode == "rate":
        rate_loop(store, {items}, "tester", scorer)
    else:
        compare_loop(store, {pairs}, "tester", scorer)
""".format(items=repr(ITEMS), pairs=repr(PAIRS))


def spawn(mode: str, db: Path, scored: bool = False) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-c", DRIVER, mode, str(db), "scored" if scored else "plain"], cwd=str(ROOT),
                         encoding="utf-8", timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def ratings(db: Path) -> list[tuple[str, int]]:
    with FeedbackStore(db) as store:
        return [(r["completion"], r["rating"]) for r in store.ratings()]


def test_rating_shows_prompt_completion_and_score_and_saves_each_key(tmp_path):
    db = tmp_path / "f.sqlite"
    child = spawn("rate", db, scored=True)
    child.expect("3 completions to rate")
    child.expect(r"\[1/3\] Prompt: How do I make tea\?")
    child.expect("Completion: Happy to help! Pour hot water on a tea bag.")
    child.expect(r"Reward model score: \+4\.300")  # the scorer's value for this completion (43 characters / 10)
    child.expect(RATE_PROMPT)
    child.sendline("1")
    child.expect("saved: good")
    child.expect("Completion: Ugh, what a silly question. Go away.")
    child.expect(RATE_PROMPT)
    child.sendline("3")
    child.expect("saved: bad")
    child.expect(RATE_PROMPT)
    child.sendline("2")
    child.expect("saved: neutral")
    child.expect("All rated: 3 saved this session")
    assert finish(child) == 0
    assert ratings(db) == [(ITEMS[0][1], 1), (ITEMS[1][1], 3), (ITEMS[2][1], 2)]


def test_without_a_reward_model_the_score_says_none_yet(tmp_path):
    child = spawn("rate", tmp_path / "f.sqlite")
    child.expect("Reward model score: none yet")
    child.expect(RATE_PROMPT)
    child.sendline("q")
    child.expect("Quit: 0 saved this session")
    assert finish(child) == 0


@pytest.mark.parametrize("key", ["4", "x", "\x1b[A", "11", "good"], ids=["4", "x", "arrow-up", "11", "good"])
def test_an_invalid_key_asks_again_and_saves_nothing(tmp_path, key):
    db = tmp_path / "f.sqlite"
    child = spawn("rate", db)
    child.expect(RATE_PROMPT)
    child.send(key)  # keys arriving together (a paste, an arrow's escape sequence) are one answer
    child.expect("is not an answer: press one of 1, 2, 3 or q")
    child.expect(RATE_PROMPT)
    assert ratings(db) == []  # read while the session waits: nothing stored for the invalid key
    child.send("\r")  # Enter alone is no answer on a terminal: ignored
    child.send("2")
    child.expect("saved: neutral")
    child.expect(RATE_PROMPT)
    child.sendline("q")
    child.expect("Quit: 1 saved this session")
    assert finish(child) == 0
    assert ratings(db) == [(ITEMS[0][1], 2)]


def test_quit_then_resume_asks_only_what_is_left(tmp_path):
    db = tmp_path / "f.sqlite"
    child = spawn("rate", db)
    child.expect(RATE_PROMPT)
    child.sendline("1")
    child.expect(RATE_PROMPT)
    child.sendline("q")
    child.expect("Quit: 1 saved this session")
    assert finish(child) == 0
    child = spawn("rate", db)
    child.expect("Resuming: 1 already rated by tester")
    child.expect("2 completions to rate")
    child.expect(r"\[1/2\] Prompt: How do I make tea\?\s+Completion: Ugh")  # the first one is not asked again
    child.expect(RATE_PROMPT)
    child.sendline("3")
    child.expect(RATE_PROMPT)
    child.sendline("1")
    child.expect("All rated: 2 saved this session")
    assert finish(child) == 0
    assert ratings(db) == [(ITEMS[0][1], 1), (ITEMS[1][1], 3), (ITEMS[2][1], 1)]


@pytest.mark.parametrize("how, words", [("eof", "End of input"), ("ctrl-c", "Interrupted")])
def test_end_of_input_and_ctrl_c_save_and_exit_cleanly(tmp_path, how, words):
    db = tmp_path / "f.sqlite"
    child = spawn("rate", db)
    child.expect(RATE_PROMPT)
    child.sendline("3")
    child.expect("saved: bad")
    child.expect(RATE_PROMPT)
    child.sendeof() if how == "eof" else child.sendintr()
    child.expect(f"{words}: 1 saved this session")
    assert "Traceback" not in child.before
    assert finish(child) == 0
    assert ratings(db) == [(ITEMS[0][1], 3)]


def test_sigkill_mid_session_keeps_every_saved_rating(tmp_path):
    db = tmp_path / "f.sqlite"
    child = spawn("rate", db)
    for key in ("1", "3"):
        child.expect(RATE_PROMPT)
        child.sendline(key)
        child.expect("saved:")
    child.expect(RATE_PROMPT)  # killed while the third is on the screen
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGKILL
    assert ratings(db) == [(ITEMS[0][1], 1), (ITEMS[1][1], 3)]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    child = spawn("rate", db)  # and the session resumes at the third
    child.expect("Resuming: 2 already rated")
    child.expect("Completion: Good question.")
    child.expect(RATE_PROMPT)
    child.sendline("q")
    assert finish(child) == 0


def test_ab_comparisons_with_skip_invalid_key_and_quit(tmp_path):
    db = tmp_path / "f.sqlite"
    child = spawn("compare", db, scored=True)
    child.expect("3 pairs to compare")
    child.expect(r"\[1/3\] Prompt: How do I make tea\?")
    child.expect(r"A: Happy to help! Pour hot water on a tea bag.\s+reward model score: \+4\.300")
    child.expect(r"B: Ugh, what a silly question. Go away.\s+reward model score: \+3\.600")
    child.expect(COMPARE_PROMPT)
    child.sendline("A")  # upper case is the same key
    child.expect("saved: A is better")
    child.expect(COMPARE_PROMPT)
    child.sendline("c")
    child.expect("is not an answer: press one of a, b, s or q")
    child.expect(COMPARE_PROMPT)
    child.sendline("b")
    child.expect("saved: B is better")
    child.expect(COMPARE_PROMPT)
    child.sendline("s")
    child.expect("saved: skipped")
    child.expect("All compared: 3 saved this session")
    assert finish(child) == 0
    with FeedbackStore(db) as store:
        assert [c["choice"] for c in store.comparisons()] == ["a", "b", None]
        assert [(p["chosen"], p["rejected"]) for p in store.preference_pairs()] == [(ITEMS[0][1], ITEMS[1][1]),
                                                                                   (ITEMS[2][1], "Nobody cares.")]
    child = spawn("compare", db)
    child.expect("0 pairs to compare")  # the skip counts as answered: nothing is asked again
    assert finish(child) == 0


@pytest.mark.parametrize("command, keys, saved", [("rate", "x\n1\nq\n", "saved: good"),
                                                 ("compare", "b\n", "saved: B is better")])
def test_the_commands_sample_the_policy_and_save_what_is_typed(tmp_path, monkeypatch, capsys, command, keys, saved):
    """``rlhf-course capstone rate|compare`` (in this process, to share its loaded libraries; the loops' terminal
    behaviour is tested above): the SFT'd tiny policy's samples, no reward model yet, answers saved."""
    from grader.cli import main

    monkeypatch.setenv("RLHF_CAPSTONE_DIR", str(tmp_path))  # no reward model there
    monkeypatch.setattr(sys, "stdin", io.StringIO(keys))
    db = tmp_path / "f.sqlite"
    assert main(["capstone", command, "--db", str(db), "--prompts", "eval", "--max-new-tokens", "12"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"\[1/\d+\] Prompt: {re.escape(task.EVAL_PROMPTS[0])}", out)
    assert "score: none yet" in out and saved in out
    with FeedbackStore(db) as store:
        answers = store.ratings() if command == "rate" else store.comparisons()
    assert len(answers) == 1 and answers[0]["prompt"] == task.EVAL_PROMPTS[0]
    shown = answers[0]["completion"] if command == "rate" else answers[0]["completion_b"]
    assert shown in out
