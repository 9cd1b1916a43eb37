"""Human (or simulated) feedback, stored durably in SQLite: ratings of single completions and A/B comparisons.

One SQLite file holds both tables. It is opened in WAL mode, and each rating is its own committed
transaction, so a crash or ``kill -9`` loses at most the rating not yet given; the same file reopens and a
session resumes where it stopped (``rated`` / ``compared`` say what is done). The file carries the course's
``application_id`` and its schema version in ``user_version`` (SQLite's two header fields for exactly this):
a file that is not a database, another program's database, or one written by a newer version of the course
raises ``FeedbackDBError`` with a one-line reason, and is never written to.

Export: ``preference_pairs()`` gives TRL's ``prompt``/``chosen``/``rejected`` records (``grader.preferences``
reads them): from ratings, the best against the worst completion of each prompt (prompts whose completions all
got the same rating give none); from comparisons, the preferred against the other (skips give none).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

APPLICATION_ID = 0x524C4846  # "RLHF": marks the file as the course's feedback database
SCHEMA_VERSION = 1
RATINGS = {1: "good", 2: "neutral", 3: "bad"}
CHOICES = ("a", "b", None)  # None: the labeller skipped the pair

_SCHEMA = """
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY,
    prompt TEXT NOT NULL,
    completion TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (1, 2, 3)),
    labeller TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE comparisons (
    id INTEGER PRIMARY KEY,
    prompt TEXT NOT NULL,
    completion_a TEXT NOT NULL,
    completion_b TEXT NOT NULL,
    choice TEXT CHECK (choice IN ('a', 'b')),
    labeller TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


class FeedbackDBError(Exception):
    """The file cannot be used as a feedback database; the message says why. The file is left untouched."""


class NotADatabase(FeedbackDBError):
    """The file is not an SQLite database (corrupt, or some other kind of file)."""


class DamagedDatabase(FeedbackDBError):
    """The course's feedback database, but damaged (SQLite's quick_check fails)."""


class ForeignDatabase(FeedbackDBError):
    """An SQLite database, but another program's (it has other tables, or another application id)."""


class NewerSchema(FeedbackDBError):
    """A feedback database written by a newer version of the course."""


def _check_ours(path: Path) -> None:
    """Read an existing file's header (read-only) and raise FeedbackDBError unless it is the course's feedback
    database, or an empty SQLite file that can become one. Nothing is written before this passes."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise FeedbackDBError(f"{path}: cannot open ({exc})") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NotADatabase(f"{path} is not a feedback database: it is not an SQLite file ({exc}); "
                           f"give another --db path (the file was left as it is)") from None
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check")]  # every page read once: small files, fast
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    finally:
        conn.close()
    if app_id == 0 and not tables and version == 0:
        return  # an empty SQLite file (e.g. a creation interrupted before its first commit): ours to set up
    if app_id != APPLICATION_ID:
        what = f"its tables are {', '.join(tables)}" if tables else f"its application id is {app_id:#x}"
        raise ForeignDatabase(f"{path} is another program's SQLite database ({what}), not the course's feedback "
                              f"database; give another --db path (the file was left as it is)")
    if version > SCHEMA_VERSION:
        raise NewerSchema(f"{path} was written by a newer version of the course (schema {version}; this one reads "
                          f"up to {SCHEMA_VERSION}): upgrade the course (the file was left as it is)")
    if problems != ["ok"]:
        first = " ".join(problems[0].replace("*** in database main ***", "").split())[:120]  # one line
        raise DamagedDatabase(f"{path} is the course's feedback database but damaged ({first}); copy it "
                              f"aside and try `sqlite3 {path} .recover` (the file was left as it is)")


class FeedbackStore:
    """The feedback database at ``path``, created if missing. Use as a context manager::

        with FeedbackStore("capstone/feedback.sqlite") as store:
            store.add_rating(prompt, completion, 1, "alice")
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise FeedbackDBError(f"{self.path} is a folder; give the path of a database file")
        if self.path.exists() and self.path.stat().st_size > 0:
            _check_ours(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None)  # autocommit; transactions are explicit
            self._conn.execute("PRAGMA journal_mode = WAL")  # readers and a writer at once; a commit is one append
            self._conn.execute("PRAGMA synchronous = FULL")  # each commit reaches the disk before add_* returns
            self._conn.execute("PRAGMA busy_timeout = 5000")  # another process's commit in progress: wait for it
            if self._conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                with self._transaction():
                    for statement in filter(str.strip, _SCHEMA.split(";")):  # executescript would commit first
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:  # a read-only file or folder, a full disk
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
            raise FeedbackDBError(f"{self.path}: cannot write the feedback database ({exc})") from None

    # --- the connection ---

    @contextmanager
    def _transaction(self):
        """One committed transaction; rolled back if anything inside fails (or Ctrl-C arrives)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    # --- writing: one committed transaction each ---

    def add_rating(self, prompt: str, completion: str, rating: int, labeller: str) -> int:
        """Store a rating (1 good, 2 neutral, 3 bad) of ``completion`` for ``prompt``; returns its id."""
        if rating not in RATINGS or isinstance(rating, bool):
            raise ValueError(f"a rating is 1 (good), 2 (neutral) or 3 (bad), not {rating!r}")
        with self._transaction():
            cur = self._conn.execute("INSERT INTO ratings (prompt, completion, rating, labeller) VALUES (?, ?, ?, ?)",
                                     (prompt, completion, rating, labeller))
        return cur.lastrowid

    def add_comparison(self, prompt: str, completion_a: str, completion_b: str, choice: str | None,
                       labeller: str) -> int:
        """Store which of two completions is better: ``"a"``, ``"b"``, or None (skipped); returns its id."""
        if choice not in CHOICES:
            raise ValueError(f"a comparison's choice is 'a', 'b' or None (skipped), not {choice!r}")
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO comparisons (prompt, completion_a, completion_b, choice, labeller) VALUES (?, ?, ?, ?, ?)",
                (prompt, completion_a, completion_b, choice, labeller))
        return cur.lastrowid

    # --- reading ---

    def ratings(self) -> list[dict]:
        """Every rating, oldest first: dicts with id, prompt, completion, rating, labeller, created."""
        return self._rows("SELECT id, prompt, completion, rating, labeller, created FROM ratings ORDER BY id")

    def comparisons(self) -> list[dict]:
        """Every comparison, oldest first: dicts with id, prompt, completion_a, completion_b, choice, labeller, created."""
        return self._rows("SELECT id, prompt, completion_a, completion_b, choice, labeller, created "
                          "FROM comparisons ORDER BY id")

    def rated(self, labeller: str | None = None) -> set[tuple[str, str]]:
        """The (prompt, completion) pairs already rated (by ``labeller``, or by anyone): what a resumed session skips."""
        return {(r["prompt"], r["completion"]) for r in self.ratings() if labeller in (None, r["labeller"])}

    def compared(self, labeller: str | None = None) -> set[tuple[str, str, str]]:
        """The (prompt, completion_a, completion_b) triples already compared or skipped (by ``labeller``, or anyone)."""
        return {(c["prompt"], c["completion_a"], c["completion_b"]) for c in self.comparisons()
                if labeller in (None, c["labeller"])}

    def _rows(self, sql: str) -> list[dict]:
        cur = self._conn.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]

    # --- export ---

    def preference_pairs(self) -> list[dict]:
        """TRL-format pairs: ``{"prompt", "chosen", "rejected", "source"}``, from ratings then comparisons.

        Ratings: per prompt, the completion with the best mean rating against the one with the worst (the
        earliest rated wins a tie for either place); none when all of a prompt's completions rate the same.
        Comparisons: the chosen completion against the other; skips and identical completions give none.
        """
        by_prompt: dict[str, dict[str, list[int]]] = {}
        for r in self.ratings():
            by_prompt.setdefault(r["prompt"], {}).setdefault(r["completion"], []).append(r["rating"])
        pairs = []
        for prompt, completions in by_prompt.items():
            means = {c: sum(v) / len(v) for c, v in completions.items()}  # in first-rated order
            best = min(means, key=means.get)  # 1 is good: the lowest mean is the best
            worst = max(means, key=means.get)
            if means[best] < means[worst]:
                pairs.append({"prompt": prompt, "chosen": best, "rejected": worst, "source": "ratings"})
        for c in self.comparisons():
            if c["choice"] is None or c["completion_a"] == c["completion_b"]:
                continue
            a_wins = c["choice"] == "a"
            pairs.append({"prompt": c["prompt"], "chosen": c["completion_a"] if a_wins else c["completion_b"],
                          "rejected": c["completion_b"] if a_wins else c["completion_a"], "source": "comparison"})
        return pairs

    def export_ratings(self, path: str | Path) -> Path:
        """Every rating as JSON Lines (one dict a line, as ``ratings()`` gives them)."""
        return _write_jsonl(self.ratings(), path)

    def export_pairs(self, path: str | Path) -> Path:
        """``preference_pairs()`` as JSON Lines, checked and written by the course's ``save_preferences``."""
        from grader.preferences import save_preferences

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return save_preferences(self.preference_pairs(), path)


def _write_jsonl(records: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
