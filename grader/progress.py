"""The overview's memory: the last grading of each learner file, reused while nothing it depends on changed.

An entry is keyed by a hash of everything the outcome depends on: the file's bytes (and those of any helper
module beside it that it imports), the exercise's stored reference and checks (the grader's version), the
package version and the device asked for. Change any of them and the entry no longer matches, so the
overview grades that exercise again. One entry per (exercise, file) keeps the file small.

The file lives beside the model cache, ``<model cache>-progress/results.json`` (``RLHF_COURSE_PROGRESS``
names another), never inside it: the sandbox sees the model cache, and the results hold expected values.
Only outcomes that do not depend on the machine's load are kept (no timeouts, no crashes, no grader
failures). A missing, unreadable or corrupt file is an empty cache; a failed write is ignored.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from grader import __version__
from grader.learner import LoadError, code_cells

PROGRESS_ENV = "RLHF_COURSE_PROGRESS"
SCHEMA = 1
NOT_CACHED = {"timeout"}
MACHINE_HINTS = ("this is not your code", "your code ended the interpreter")  # grader failures, deaths


def progress_file() -> Path:
    if os.environ.get(PROGRESS_ENV):
        return Path(os.environ[PROGRESS_ENV]).expanduser()
    from grader.model_cache import cache_dir

    models = cache_dir()
    return models.with_name(models.name + "-progress") / "results.json"


def grader_version(exercise: str) -> str:
    """Changes whenever the exercise's grading can: its stored reference, its checks' code, the package."""
    from grader.engine.judge import reference_path

    h = hashlib.sha256(__version__.encode())
    for path in (reference_path(exercise), Path(__file__).parent / "checks" / f"{exercise}.py"):
        h.update(path.read_bytes() if path.exists() else b"-")
    return h.hexdigest()


def _imported_helpers(path: Path) -> list[Path]:
    """The .py files beside ``path`` that it imports by name (``import helper``, ``from helper import f``)."""
    names: set[str] = set()
    try:
        cells = code_cells(path)
    except (LoadError, OSError, UnicodeDecodeError):
        return []
    for _, source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(p for n in names if (p := path.parent / f"{n}.py").is_file() and p != path)


def key(exercise: str, file: str, device: str | None) -> str | None:
    """The hash an entry must carry to be reused; None when the file cannot be read."""
    path = Path(file)
    h = hashlib.sha256(f"{SCHEMA}\0{exercise}\0{path}\0{device or os.environ.get('RLHF_COURSE_DEVICE', '')}".encode())
    h.update(grader_version(exercise).encode())
    try:
        for p in (path, *_imported_helpers(path)):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    except OSError:
        return None
    return h.hexdigest()


def cacheable(results: list[dict]) -> bool:
    return bool(results) and not any(
        r["status"] in NOT_CACHED or r["check"] == "(startup)" or any(m in (r.get("hint") or "") for m in MACHINE_HINTS)
        for r in results)


class Progress:
    """The results file, read once; ``save`` writes it back atomically."""

    def __init__(self, path: Path | None = None):
        self.path = path or progress_file()
        self.entries: dict[str, dict] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("schema") == SCHEMA and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]
        except (OSError, ValueError, UnicodeDecodeError):
            pass

    @staticmethod
    def _slot(exercise: str, file: str) -> str:
        return f"{exercise}\0{Path(file)}"

    def lookup(self, exercise: str, file: str, digest: str | None) -> dict | None:
        """The stored grading (``results``, ``device``, ``device_reason``, ``sandboxed``) if still valid."""
        entry = self.entries.get(self._slot(exercise, file))
        ok = digest is not None and isinstance(entry, dict) and entry.get("key") == digest
        return entry if ok and isinstance(entry.get("results"), list) else None

    def store(self, exercise: str, file: str, digest: str | None, results: list[dict], device: str,
              device_reason: str, sandboxed: bool) -> None:
        slot = self._slot(exercise, file)
        if digest is None or not cacheable(results):
            self.entries.pop(slot, None)
            return
        self.entries[slot] = {"key": digest, "results": results, "device": device, "device_reason": device_reason,
                              "sandboxed": sandboxed}

    def save(self) -> None:
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".results-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"schema": SCHEMA, "entries": self.entries}, f)
            os.replace(tmp, self.path)  # whole or not at all: a reader never sees half a file
        except OSError:  # a read-only cache folder: the overview grades again next time, nothing is lost
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
