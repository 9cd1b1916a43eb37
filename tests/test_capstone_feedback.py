"""The capstone's feedback store (grader/capstone/feedback.py) and labellers (grader/capstone/labellers.py):
what is stored and exported, durability under SIGKILL, and files that are not ours left untouched."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from grader.capstone import feedback
from grader.capstone.feedback import DamagedDatabase, FeedbackStore, ForeignDatabase, NewerSchema, NotADatabase
from grader.capstone.labellers import JudgeLabeller, SimulatedLabeller
from grader.capstone.task import preference_score
from grader.preferences import check_record, load_preferences

ROOT = Path(__file__).resolve().parents[1]
KIND, RUDE, PLAIN = "Happy to help! Pour hot water on a tea bag.", "Ugh, what a silly question. Go away.", "A tea bag."


def test_ratings_and_comparisons_persist_across_reopening(tmp_path):
    db = tmp_path / "feedback.sqlite"
    with FeedbackStore(db) as store:
        store.add_rating("p", "c1", 1, "alice")
        store.add_comparison("p", "c1", "c2", "b", "bob")
        store.add_comparison("p", "c3", "c4", None, "bob")
    with FeedbackStore(db) as store:  # reopened: resumed, not re-created
        store.add_rating("p", "c2", 3, "alice")
        assert [(r["completion"], r["rating"], r["labeller"]) for r in store.ratings()] == [("c1", 1, "alice"),
                                                                                            ("c2", 3, "alice")]
        assert [(c["completion_a"], c["choice"]) for c in store.comparisons()] == [("c1", "b"), ("c3", None)]
        assert store.rated("alice") == {("p", "c1"), ("p", "c2")} and store.rated("bob") == set()
        assert store.compared() == {("p", "c1", "c2"), ("p", "c3", "c4")}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == feedback.SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == feedback.APPLICATION_ID
    conn.close()


@pytest.mark.parametrize("rating", [0, 4, "1", True, 1.5])
def test_a_rating_outside_1_2_3_is_refused_and_nothing_is_stored(tmp_path, rating):
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        with pytest.raises(ValueError, match="1 \\(good\\), 2 \\(neutral\\) or 3 \\(bad\\)"):
            store.add_rating("p", "c", rating, "x")
        with pytest.raises(ValueError, match="'a', 'b' or None"):
            store.add_comparison("p", "a", "b", "c", "x")
        assert store.ratings() == [] and store.comparisons() == []


def test_pairs_from_ratings_are_best_against_worst_per_prompt_and_ties_give_none(tmp_path):
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        for completion, rating in [("ok", 2), ("great", 1), ("awful", 3), ("also great", 1), ("bad", 3)]:
            store.add_rating("p1", completion, rating, "alice")
        store.add_rating("p2", "x", 2, "alice")
        store.add_rating("p2", "y", 2, "alice")  # a tie: no pair
        store.add_rating("p3", "z", 1, "alice")  # one completion: no pair
        # Two labellers disagree on "u" (mean 2) and agree on "v" (mean 1): "v" wins, "u" loses.
        store.add_rating("p4", "u", 1, "alice")
        store.add_rating("p4", "u", 3, "bob")
        store.add_rating("p4", "v", 1, "bob")
        pairs = store.preference_pairs()
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in pairs] == [("p1", "great", "awful"), ("p4", "v", "u")]


def test_pairs_from_comparisons_follow_the_choice_and_skips_give_none(tmp_path):
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        store.add_comparison("p", "A1", "B1", "a", "x")
        store.add_comparison("p", "A2", "B2", "b", "x")
        store.add_comparison("p", "A3", "B3", None, "x")
        store.add_comparison("p", "same", "same", "a", "x")
        pairs = store.preference_pairs()
    assert [(p["chosen"], p["rejected"], p["source"]) for p in pairs] == [("A1", "B1", "comparison"),
                                                                          ("B2", "A2", "comparison")]


def test_exports_are_read_by_the_course_preference_loader(tmp_path):
    with FeedbackStore(tmp_path / "f.sqlite") as store:
        store.add_rating("How do I make tea?", KIND, 1, "alice")
        store.add_rating("How do I make tea?", RUDE, 3, "alice")
        store.add_comparison("How do I boil an egg?", RUDE, "Boil it for eight minutes. 🥚", "b", "bob")
        pairs_file = store.export_pairs(tmp_path / "out" / "pairs.jsonl")
        ratings_file = store.export_ratings(tmp_path / "out" / "ratings.jsonl")
        expected = store.preference_pairs()
    loaded = load_preferences(pairs_file)
    assert loaded == expected and len(loaded) == 2
    assert all(check_record(r) for r in loaded)
    assert (loaded[1]["chosen"], loaded[1]["rejected"]) == ("Boil it for eight minutes. 🥚", RUDE)
    lines = ratings_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and '"rating": 3' in lines[1]


# --- files that are not ours ---------------------------------------------------------------------------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _other_program(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    conn.commit()
    conn.close()


def _newer_schema(path: Path) -> None:
    FeedbackStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")  # one file, so that its bytes are all there is to compare
    conn.execute(f"PRAGMA user_version = {feedback.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()


def _damaged(path: Path) -> None:
    FeedbackStore(path).close()
    conn = sqlite3.connect(path)  # many ratings in one transaction (the store commits each: slower)
    conn.executemany("INSERT INTO ratings (prompt, completion, rating, labeller) VALUES (?, ?, ?, 'x')",
                     [(f"prompt {i % 5}", f"completion {i} " * 5, 1 + i % 3) for i in range(200)])
    conn.commit()
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()  # the last connection: the WAL is checkpointed into the file and removed
    data = path.read_bytes()
    path.write_bytes(data[:page] + bytes((i * 167 + 13) % 256 for i in range(len(data) - page)))  # all but page 1


NOT_OURS = [(_random_bytes, NotADatabase, "not an SQLite file"),
            (_other_program, ForeignDatabase, "its tables are invoices"),
            (_newer_schema, NewerSchema, "newer version of the course"),
            (_damaged, DamagedDatabase, "feedback database but damaged")]
IDS = ["random-bytes", "other-tables", "newer-schema", "damaged"]


@pytest.mark.parametrize("make, error, words", NOT_OURS, ids=IDS)
def test_a_file_that_is_not_ours_is_refused_and_left_byte_identical(tmp_path, make, error, words):
    path = tmp_path / "feedback.sqlite"
    make(path)
    before = path.read_bytes()
    with pytest.raises(error, match=words):
        FeedbackStore(path)
    assert path.read_bytes() == before
    wal = Path(f"{path}-wal")  # a WAL-mode file read read-only may get an empty one; nothing may be written to it
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.parametrize("make, error, words", NOT_OURS, ids=IDS)
def test_the_cli_reports_a_bad_database_in_one_line_and_leaves_it(tmp_path, make, error, words):
    path = tmp_path / "feedback.sqlite"
    make(path)
    before = path.read_bytes()
    out = subprocess.run([sys.executable, "-m", "grader.cli", "capstone", "export", "--db", str(path),
                          "--pairs", str(tmp_path / "p.jsonl"), "--ratings", str(tmp_path / "r.jsonl")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and words in out.stderr and "Traceback" not in out.stderr
    assert path.read_bytes() == before and not (tmp_path / "p.jsonl").exists()


def test_an_empty_file_becomes_a_feedback_database(tmp_path):
    path = tmp_path / "feedback.sqlite"
    path.touch()  # e.g. left by a run killed before its first commit
    with FeedbackStore(path) as store:
        store.add_rating("p", "c", 2, "x")
        assert len(store.ratings()) == 1


# --- durability --------------------------------------------------------------------------------------------

WRITER = """
import sys
from grader.capstone.feedback import FeedbackStore
store = FeedbackStore(sys.argv[1])
i = 0
while True:
    store.add_rating(f"prompt {i % 7}", f"completion {i}", 1 + i % 3, "writer")
    print(i, flush=True)  # only after the commit returned
    i += 1
"""


def test_sigkill_mid_session_loses_no_saved_rating(tmp_path):
    db = tmp_path / "feedback.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    acknowledged = [int(writer.stdout.readline()) for _ in range(40)]
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    with FeedbackStore(db) as store:  # reopens after the crash, and keeps going
        stored = [r["completion"] for r in store.ratings()]
        store.add_rating("after", "the crash", 1, "me")
    assert stored[:len(acknowledged)] == [f"completion {i}" for i in acknowledged]
    assert len(stored) in (len(acknowledged), len(acknowledged) + 1)  # at most the one in flight besides
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# --- labellers -----------------------------------------------------------------------------------------------


def test_the_simulated_labeller_applies_the_stated_preference():
    labeller = SimulatedLabeller()
    assert preference_score(KIND) > 0 > preference_score(RUDE) and preference_score(PLAIN) == 0
    assert [labeller.rate("p", t) for t in (KIND, PLAIN, RUDE)] == [1, 2, 3]
    assert labeller.compare("p", KIND, RUDE) == "a" and labeller.compare("p", RUDE, KIND) == "b"
    assert labeller.compare("p", PLAIN, "The bus.") is None


def test_the_simulated_labellers_noise_is_seeded_per_item_and_at_its_rate():
    items = [f"answer {i}: " + (KIND if i % 2 else RUDE) for i in range(400)]
    clean, noisy = SimulatedLabeller(), SimulatedLabeller(noise=0.3, seed=1)
    answers = [noisy.rate("p", t) for t in items]
    assert answers == [SimulatedLabeller(noise=0.3, seed=1).rate("p", t) for t in items]  # same item, same answer
    assert answers[::-1] == [noisy.rate("p", t) for t in reversed(items)]  # whatever the order
    assert answers != [SimulatedLabeller(noise=0.3, seed=2).rate("p", t) for t in items]
    # A noisy answer is uniform over 1, 2, 3, so 2/3 of them differ from the clean one: 0.3 * 2/3 = 0.2 expected.
    wrong = sum(a != clean.rate("p", t) for a, t in zip(answers, items)) / len(items)
    assert 0.12 < wrong < 0.28
    assert SimulatedLabeller(noise=1.0).compare("p", KIND, RUDE) in ("a", "b")
    with pytest.raises(ValueError, match="probability"):
        SimulatedLabeller(noise=1.5)


def test_the_judge_is_the_rlaif_exercises_and_free_of_position_bias(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_COURSE_PROGRESS", str(tmp_path / "results.json"))  # nothing checked yet
    judge = JudgeLabeller(min_confidence=0.5 + 1e-9)
    assert judge.source.startswith("the reference") and "solutions/rlaif.py" in judge.source
    p = judge.probability("How do I make tea?", KIND, RUDE)
    q = judge.probability("How do I make tea?", RUDE, KIND)
    assert 0 < p < 1 and p != 0.5
    assert p + q == pytest.approx(1.0, abs=1e-5)  # both orders averaged: swapping the pair gives 1 - p
    assert judge.compare("How do I make tea?", KIND, RUDE) == ("a" if p > 0.5 else "b")
    assert JudgeLabeller(min_confidence=1.0).compare("How do I make tea?", KIND, RUDE) is None  # not that sure
    assert judge.probability("p", "word " * 200, "x") is None  # does not fit the tiny judge's 128 positions
