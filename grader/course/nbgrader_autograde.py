"""nbgrader's ``autograde`` with scores from a trusted process: what ``rlhf-course nbgrader`` configures.

Stock nbgrader executes each submission in a Jupyter kernel and scores the grade cells by their
outputs, so a student's code runs in the process that decides its own score. Here the course's
``nbgrader_config.py`` replaces that step (``c.Autograde.autograde_preprocessors``) with
``SandboxedGrade``: nbgrader's own process, the judge, grades each submission through the sandboxed
executor (``grader.engine``) and writes each grade cell's outcome as its output (a pass line, or an
error with the check's expected / got / hint), which nbgrader's ``SaveAutoGrades`` then records as
usual. The student's code never runs where the gradebook, the course directory or the expected
values are; the instructor keeps typing stock commands.

Three more pieces make one bad submission unable to stop a batch:

- ``NormalizeSubmission`` (first of the sanitize steps) repairs what would make nbgrader's own steps
  raise: nbgrader metadata of an old schema, malformed or stripped, grade cells deleted (put back),
  attachments and giant markdown (dropped), and restores the released form of hidden-test cells
  silently, so that nbgrader's "checksum has changed" warning again means tampering;
- ``inspect_submission`` (the ``pre_convert_hook``) names unreadable submissions before nbgrader
  tries them: not JSON, JSON that is not a notebook, empty, a symbolic link, a missing notebook;
- every problem is written to ``autograde_problems.csv`` in the course directory, and
  ``ExportWithProblems`` (the export plugin) adds a ``needs_attention`` column to the grades CSV,
  so a submission that could not be graded normally is never mistaken for a real zero.
"""

from __future__ import annotations

import atexit
import csv
import fcntl
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.plugins.export import CsvExportPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Unicode

from grader.engine.judge import Outcome
from grader.exercises import BY_ID
from grader.quiz import ASSIGNMENT as QUIZ

PROBLEMS_FILE = "autograde_problems.csv"
PROBLEM_FIELDS = ["time", "assignment", "student", "notebook", "problem"]
MAX_MARKDOWN_CHARS = 100_000
SEMANTIC_KEYS = ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task")
# Outcomes that are a reason to look at the submission, beyond its score.
LOOK_STATUSES = {"timeout"}
LOOK_MESSAGES = ("died", "loading your file", "sent back more data", "the grader failed", "could not start")


def _course_root() -> Path:
    """nbgrader runs its commands in the course directory (``CourseDirectory.root`` is the cwd by default)."""
    return Path.cwd()


# --- the problems report ----------------------------------------------------------------------------


def _locked_rows(path: Path, change) -> list[dict]:
    """Read (and, with ``change``, rewrite) the problems file under an exclusive lock: several autograde
    processes may run on one course at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        rows = [r for r in csv.DictReader(f) if set(PROBLEM_FIELDS) <= set(r)]
        if change is not None:
            rows = change(rows)
            f.seek(0)
            f.truncate()
            writer = csv.DictWriter(f, PROBLEM_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        return rows


def record_problem(assignment: str, student: str, notebook: str, problem: str, root: Path | None = None) -> None:
    row = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "assignment": assignment, "student": student,
           "notebook": notebook, "problem": " ".join(problem.split())[:500]}
    _locked_rows((root or _course_root()) / PROBLEMS_FILE, lambda rows: [*rows, row])


def clear_problems(assignment: str, student: str, root: Path | None = None) -> None:
    _locked_rows((root or _course_root()) / PROBLEMS_FILE,
                 lambda rows: [r for r in rows if (r["assignment"], r["student"]) != (assignment, student)])


def problems(root: Path | None = None) -> dict[tuple[str, str], list[str]]:
    """(assignment, student) -> the problems recorded by the latest autograde of that submission."""
    out: dict[tuple[str, str], list[str]] = {}
    path = (root or _course_root()) / PROBLEMS_FILE
    if path.exists():
        for r in _locked_rows(path, None):
            out.setdefault((r["assignment"], r["student"]), []).append(f"{r['notebook']}: {r['problem']}")
    return out


# --- before nbgrader opens a submission ---------------------------------------------------------------


def inspect_submission(assignment: str, student: str, notebooks: list[str], **_) -> None:
    """``c.Autograde.pre_convert_hook``: forget this submission's old problems, then name each notebook that
    nbgrader could not read (nbgrader itself fails those with a traceback and goes on with the batch)."""
    if notebooks:  # `autograde "*"` passes the wildcards: the path says whose submission it is
        *_, student, assignment, _ = Path(notebooks[0]).parts
    clear_problems(assignment, student)
    names = [os.path.basename(n) for n in notebooks]
    if (assignment in BY_ID or assignment == QUIZ) and f"{assignment}.ipynb" not in names:
        record_problem(assignment, student, f"{assignment}.ipynb",
                       f"no {assignment}.ipynb was submitted (found: {', '.join(names) or 'nothing'}); scored 0")
    for path in notebooks:
        reason = unreadable(Path(path))
        if reason:
            record_problem(assignment, student, os.path.basename(path), f"not graded: {reason}")


def unreadable(path: Path) -> str | None:
    """Why ``path`` is not a notebook nbgrader can grade, or None."""
    if path.is_symlink():
        return "it is a symbolic link, not a file"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"it cannot be read as text ({exc})"
    if not text.strip():
        return "the file is empty"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return "the file is not JSON (not a Jupyter notebook)"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "the file is JSON but not a Jupyter notebook (no list of cells)"
    try:
        nbformat.validate(nbformat.reads(text, as_version=4))
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        return f"the notebook is not valid ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    return None


# --- sanitize: make the submission safe for nbgrader's own steps ---------------------------------------


def _released_source(source: str) -> str:
    """A grade cell as learners received it: nbgrader's ClearHiddenTests drops the hidden region."""
    from nbgrader.preprocessors import ClearHiddenTests

    cell = nbformat.v4.new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


class NormalizeSubmission(NbGraderPreprocessor):
    """Repair a submitted notebook's nbgrader metadata against the source notebook (see the module doc)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment, notebook, student = info["assignment"], info["notebook"], info.get("student", "")
        source_path = _course_root() / "source" / assignment / f"{notebook}.ipynb"
        source = nbformat.read(source_path, as_version=4)
        known = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
        notes: list[str] = []
        seen: set[str] = set()
        # A locked cell is recognised by its text as released (hidden tests cleared) or as in source/.
        by_text = {text: gid for gid, c in known.items() if c.metadata["nbgrader"].get("locked")
                   for text in (_released_source(c.source), c.source)}
        for cell in nb.cells:
            if cell.pop("attachments", None):
                cell.source = cell.source.replace("attachment:", "#removed-attachment:")  # nbconvert needs no image
                notes.append("attachments were removed")
            if "nbgrader" not in cell.metadata and cell.source in by_text and by_text[cell.source] not in seen:
                # A locked cell whose metadata was stripped: recognised by its text, restored in place.
                cell.metadata["nbgrader"] = {"grade_id": by_text[cell.source]}
            if cell.cell_type == "markdown" and len(cell.source) > MAX_MARKDOWN_CHARS:
                cell.source = cell.source[:MAX_MARKDOWN_CHARS] + "\n\n*(cut by the autograder: too long)*"
                notes.append("a markdown cell was cut to 100,000 characters")
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if not isinstance(grade_id, str) or grade_id not in known or grade_id in seen:
                del cell.metadata["nbgrader"]  # not a cell of this assignment (or a duplicate): a plain cell
                notes.append(f"nbgrader metadata of an unknown or repeated cell was removed ({str(grade_id)[:40]})")
                continue
            seen.add(grade_id)
            original = known[grade_id]
            want = {k: v for k, v in original.metadata["nbgrader"].items() if k in SEMANTIC_KEYS}
            if {k: meta.get(k) for k in SEMANTIC_KEYS if k in meta or k in want} != want:
                notes.append(f"the nbgrader metadata of cell {grade_id} was restored")
            # generate_assignment adds a checksum (an unchanged solution cell scores 0 in manual grading) and the type
            extra = {"checksum": meta["checksum"]} if isinstance(meta.get("checksum"), str) else {}
            cell.metadata["nbgrader"] = {**want, **extra, "cell_type": original.cell_type}
            if cell.cell_type != original.cell_type:
                notes.append(f"cell {grade_id} was turned back into a {original.cell_type} cell")
                cell.cell_type = original.cell_type
                cell.pop("outputs", None), cell.pop("execution_count", None)
                if original.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            if want.get("locked") and cell.source != original.source:
                if cell.source == _released_source(original.source):
                    cell.source = original.source  # the released form of a hidden-test cell: not a change
                else:
                    notes.append(f"the locked cell {grade_id} was edited; the original was restored")
        for grade_id, original in known.items():
            if grade_id not in seen and original.metadata["nbgrader"].get("grade"):
                restored = nbformat.from_dict(json.loads(json.dumps(original)))  # verbatim: its checksum holds
                if restored.cell_type == "code":
                    restored.outputs, restored.execution_count = [], None
                nb.cells.append(restored)
                notes.append(f"the missing grade cell {grade_id} was put back")
                self.log.warning("Missing grade cell %s: put back by the course's autograder", grade_id)
        for note in dict.fromkeys(notes):
            record_problem(assignment, student, notebook, note)
        return nb, resources


# --- autograde: grade in the sandbox, write the grade cells' outputs ---------------------------------------

_executor = None


def _shared_executor(require_sandbox: bool):
    """One warm executor for the whole autograde run: each further submission costs its checks only."""
    global _executor
    from grader.engine.supervisor import Executor

    if _executor is None or _executor.proc is None or _executor.proc.poll() is not None:
        _executor = Executor(require_sandbox=require_sandbox)
        _executor.start()
        atexit.register(_executor.stop)
    return _executor


def check_name(grade_id: str) -> str | None:
    return grade_id[len("check_"):] if grade_id.startswith("check_") else None


def _failure_output(text: str):
    return nbformat.v4.new_output("error", ename="GradeFailed", evalue=text.splitlines()[0] if text else "",
                                  traceback=[f"GradeFailed: {text}"])


class SandboxedGrade(NbGraderPreprocessor):
    """Grade the notebook's code in the sandboxed executor; write each grade cell's outcome as its output."""

    allow_unsandboxed = Bool(False, help=(
        "Grade even where no sandbox can run: students' code then runs with the grading account's rights "
        "(it can read the gradebook and the course directory). Never for a class you do not trust.")).tag(config=True)
    timeout_scale = Float(1.0, help="Multiplies every check's time limit (RLHF_COURSE_TIMEOUT_SCALE also does)."
                          ).tag(config=True)
    device = Unicode("", help="cpu, cuda or mps (default: as `rlhf-course check` chooses)").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment, notebook, student = info["assignment"], info["notebook"], info.get("student", "")
        grade_cells = [c for c in nb.cells if utils.is_grade(c) and c.cell_type == "code"]
        outcomes, problem = self._grade(nb, assignment, notebook, student)
        if problem:
            record_problem(assignment, student, notebook, problem)
        for cell in grade_cells:
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            outcome = outcomes.get(check_name(grade_id) or "")
            if outcome is None:
                text = problem or f"{grade_id} is not one of the course's checks for {assignment}"
                cell.outputs = [_failure_output(text)]
                continue
            if outcome.passed:
                cell.outputs = [nbformat.v4.new_output(
                    "stream", name="stdout", text=f"{outcome.check}: passed ({outcome.points}/{outcome.max_points} points)\n")]
            else:
                cell.outputs = [_failure_output(f"{outcome.describe()}\n({outcome.points}/{outcome.max_points} points)")]
            if outcome.status in LOOK_STATUSES or any(m in (outcome.message or "") for m in LOOK_MESSAGES):
                record_problem(assignment, student, notebook, f"{outcome.check}: {outcome.message}")
        return nb, resources

    def _reference(self, assignment: str):
        """The course's secret expected observations (``rlhf-course nbgrader`` wrote them); the public ones, with a
        warning, for a course written before there were secret ones."""
        from grader.engine import judge
        from grader.course.nbgrader_course import secret_reference_path

        path = secret_reference_path(_course_root(), assignment)
        if path.exists():
            return judge.load_file(path)
        self.log.warning("%s is missing: grading on the public inputs, which a student can hard-code; run "
                         "`rlhf-course nbgrader` on this course again", path)
        return judge.load(assignment)

    def _grade_quiz(self, nb) -> tuple[dict[str, Outcome], str | None]:
        from grader.course import quiz_notebook

        order = quiz_notebook.read_order(_course_root())
        if order is None:
            self.log.warning("secret_references/%s is missing: grading the quiz in the public order of its options, "
                             "which students can look up; run `rlhf-course nbgrader` on this course again",
                             quiz_notebook.ORDER_FILE)
            order = {q.id: list(range(len(q.options))) for q in quiz_notebook.QUESTIONS}
        return quiz_notebook.outcomes(nb, order), None

    def _grade(self, nb, assignment: str, notebook: str, student: str) -> tuple[dict[str, Outcome], str | None]:
        from grader.engine.sandbox import SandboxUnavailable
        from grader.engine.supervisor import ExecutorFailed, grade

        if assignment == QUIZ:  # answers are data: read, never run (grader.course.quiz_notebook)
            return self._grade_quiz(nb)
        if assignment not in BY_ID:
            return {}, f"{assignment} is not an exercise of this course; not graded"
        submitted = _course_root() / "submitted" / student / assignment
        if (submitted / f"{notebook}.ipynb").is_symlink():
            return {}, "the submitted notebook is a symbolic link, not a file; not graded"
        scale = self.timeout_scale * float(os.environ.get("RLHF_COURSE_TIMEOUT_SCALE") or 1.0)
        folder = tempfile.mkdtemp(prefix="rlhf-course-autograde-")
        try:
            path = Path(folder) / f"{notebook}.ipynb"
            nbformat.write(nb, path)
            executor = _shared_executor(require_sandbox=not self.allow_unsandboxed)
            report = grade([(assignment, str(path))], executor=executor, timeout_scale=scale,
                           siblings_from=str(submitted) if submitted.is_dir() else folder,
                           references={assignment: self._reference(assignment)})
        except SandboxUnavailable as exc:
            self.log.error("%s (set c.SandboxedGrade.allow_unsandboxed = True to grade anyway; see "
                           "guides/instructors.md)", exc)
            return {}, f"not graded: {exc}"
        except ExecutorFailed as exc:
            return {}, f"not graded: {exc}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        startup = [r for r in report.results if r["check"] == "(startup)"]
        if startup:
            return {}, f"not graded: {startup[0]['message']}"
        for r in report.results:  # messages name the temporary copy; the student knows their notebook
            for key in ("message", "expected", "got", "hint"):
                if isinstance(r.get(key), str):
                    r[key] = r[key].replace(str(path), f"{notebook}.ipynb")
        return {r["check"]: Outcome(**r) for r in report.results}, None


# --- export: tell a submission that needs a look from a real zero --------------------------------------


class ExportWithProblems(CsvExportPlugin):
    """nbgrader's CSV export plus a ``needs_attention`` column: the problems ``autograde`` recorded."""

    def export(self, gradebook) -> None:
        super().export(gradebook)
        dest = Path(self.to or "grades.csv")
        with open(dest, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        found = problems()
        fields = [*(rows[0].keys() if rows else []), "needs_attention"]
        for r in rows:
            r["needs_attention"] = "; ".join(found.get((r["assignment"], r["student_id"]), []))
        with open(dest, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(rows)
        flagged = sum(bool(r["needs_attention"]) for r in rows)
        if flagged:
            self.log.warning("%d submission(s) need a look: see the needs_attention column of %s and %s",
                             flagged, dest, PROBLEMS_FILE)
