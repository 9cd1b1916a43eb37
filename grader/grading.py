"""Grading from the command line, as a learner sees it: ``check`` (results streamed as they arrive),
``status`` (the overview, served from the progress cache where nothing changed) and ``check --watch``.

A ``Session`` owns one warm executor (``grader.engine.supervisor.Executor``): it says so when the first run
builds the tiny models, shows a progress line while torch loads and while each check runs, and grades
any number of submissions without starting again. Learner code runs only in that executor; the verdicts
are reached in this process by the judge. Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from grader import __version__
from grader import display
from grader import exercises as registry
from grader.terminal import Terminal

STARTING = "starting the grader (loading torch and the tiny models)"
BUILDING = ("Building the tiny GPT-2 and BERT models from the course's corpus (first run only, "
            "about 10 s); they are cached in {where}.")


class StartFailed(Exception):
    """The grader could not start (not the learner's fault); the message says why."""


class WrongRequest(Exception):
    """The request cannot be graded here (a device this machine lacks): a usage error."""


@dataclass
class Graded:
    """One run's outcomes, in check order, and where they were reached."""

    results: list[dict] = field(default_factory=list)
    device: str = ""
    device_reason: str = ""
    sandboxed: bool = False
    sandbox_note: str = ""


class Session:
    """One warm executor for any number of gradings; ``notes`` receives notices and progress lines."""

    def __init__(self, device: str | None, notes: Terminal):
        self.device_request, self.notes = device, notes
        self.executor = None

    def start(self) -> None:
        from grader.engine.sandbox import SandboxUnavailable
        from grader.engine.supervisor import BadRequest, Executor, ExecutorFailed
        from grader.model_cache import built, cache_dir

        if not built():
            self.notes.line(self.notes.paint(BUILDING.format(where=cache_dir()), "note"))
        self.notes.status(STARTING)
        executor = Executor(self.device_request)
        try:
            executor.start()
        except (BadRequest, SandboxUnavailable) as exc:
            raise WrongRequest(str(exc)) from None
        except ExecutorFailed as exc:
            raise StartFailed(str(exc)) from None
        finally:
            self.notes.status(None)
        self.executor = executor

    def stop(self) -> None:
        if self.executor is not None:
            self.executor.stop()
            self.executor = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.notes.close()

    def grade(self, jobs: list[tuple[str, str]], timeout_scale: float = 1.0, on_result=None) -> Graded:
        """Grade ``jobs``; ``on_result(result)`` is called as each check's outcome arrives."""
        from grader.engine.judge import load
        from grader.engine.supervisor import ExecutorFailed, grade

        if self.executor is None or self.executor.proc is None:
            self.start()
        plan = [(e, c.name) for e, _ in jobs for c in load(e).checks]
        done = 0

        def event(e: dict) -> None:
            nonlocal done
            result = {k: v for k, v in e.items() if k != "event"}
            done += 1
            self.notes.status(None)
            if on_result:
                on_result(result)
            if done < len(plan):
                self.notes.status(f"running {plan[done][0]}.{plan[done][1]}")

        self.notes.status(f"running {plan[0][0]}.{plan[0][1]}" if plan else None)
        try:
            report = grade(jobs, timeout_scale=timeout_scale, on_event=event, executor=self.executor)
        except ExecutorFailed as exc:  # the executor was lost and could not start again
            self.executor = None
            raise StartFailed(str(exc)) from None
        finally:
            self.notes.status(None)
        ex = self.executor
        return Graded(report.results, ex.device, ex.device_reason, ex.sandboxed, ex.sandbox_note)


# --- printing -----------------------------------------------------------------------------------


class Printer:
    """Each check's lines as its outcome arrives, under its exercise's heading."""

    def __init__(self, term: Terminal, jobs: list[tuple[str, str]]):
        self.term, self.files = term, dict(jobs)
        self.exercise: str | None = None
        self.previous: dict | None = None

    def __call__(self, result: dict) -> None:
        if result["exercise"] != self.exercise:
            self.exercise, self.previous = result["exercise"], None
            self.term.line(display.heading(self.exercise, self.files[self.exercise], self.term.paint))
        for line in display.check_lines(result, self.previous, self.term.paint):
            self.term.line(line)
        self.previous = result


def header(where) -> str:
    """The first line of a grading: the device it runs on, and why that one (an Executor or a Graded)."""
    return f"Grading on {where.device} ({where.device_reason})"


def all_passed(summary: list[dict]) -> bool:
    return all(e["total"] and e["passed"] == e["total"] for e in summary)


def json_report(graded: Graded, summary: list[dict], error: str | None = None, **extra) -> str:
    doc = {"version": __version__, "device": graded.device, "device_reason": graded.device_reason,
           "sandboxed": graded.sandboxed, "passed": error is None and all_passed(summary), "exercises": summary}
    if error:
        doc["error"] = error
    doc.update(extra)
    return json.dumps(doc, indent=2)


def sandbox_notice(where) -> None:
    """One line on stderr when learner code runs unsandboxed (``where``: an Executor or a Graded)."""
    from grader.engine.supervisor import NO_SANDBOX_NOTICE

    if not where.sandboxed and where.sandbox_note:
        print(NO_SANDBOX_NOTICE.format(why=where.sandbox_note), file=sys.stderr)


def default_file(exercise: str) -> str | None:
    root = registry.course_root()
    return str(root / registry.get(exercise).stub) if root else None


def remember(graded: Graded, jobs: list[tuple[str, str]], device: str | None, progress=None) -> None:
    """Store the outcomes of the exercises' own files (those the overview reads) in the progress cache."""
    from grader import progress as cache

    book = progress or cache.Progress()
    for exercise, file in jobs:
        if file == default_file(exercise):
            mine = [r for r in graded.results if r["exercise"] == exercise]
            book.store(exercise, file, cache.key(exercise, file, device), mine, graded.device,
                       graded.device_reason, graded.sandboxed)
    book.save()
