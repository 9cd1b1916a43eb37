"""Checking your work from the notebook you are writing it in:

    from grader import check, demo
    check("dpo_loss")          # every check of the function dpo_loss; or a check's name, or "dpo" for all

grades the code this kernel has run (every cell you executed, in order: what your functions are now) as
``rlhf-course check`` grades a file, and shows the outcome under the cell: pass or fail, expected / got and
the hint. Your code is *not* run here: it is sent to the course's grading service, a separate process (a
fresh interpreter, started once per kernel, in the background as soon as this module is imported in a
kernel) that runs it in the sandboxed executor and judges what comes back. A re-check costs the checks'
time only. Outside a kernel (``python exercises/dpo.py``) it grades the calling file from disk.

``with demo():`` runs a demo cell of a stub; if the demo reaches a function you have not written yet
(``raise NotImplementedError()``), it says which and the notebook runs on instead of stopping there.

Importing this module is cheap and does nothing else outside a kernel: the stub's import line also runs
inside the sandbox when the stub is graded.
"""

from __future__ import annotations

import atexit
import contextlib
import html
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from grader import display

PACKAGE_PARENT = Path(__file__).resolve().parent.parent
TIMEOUT_SCALE_VAR = "RLHF_COURSE_TIMEOUT_SCALE"
MARGIN_S = 60.0


# --- demo cells ---------------------------------------------------------------------------------


@contextlib.contextmanager
def demo():
    """Run a demo; a stub's bare ``raise NotImplementedError()`` reached inside it ends the demo with a note."""
    try:
        yield
    except NotImplementedError as exc:
        if str(exc):  # a library's own NotImplementedError (an operation a device lacks) is a real error
            raise
        print(f"(demo skipped: `{_raiser(exc)}` is not implemented yet; write it above, then run this cell again)")


def _raiser(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code if tb is not None else None
    return getattr(code, "co_qualname", None) or getattr(code, "co_name", "a function")


# --- what to grade ------------------------------------------------------------------------------


def resolve(target: str | None, exercise: str | None = None, defined: set[str] = frozenset()) -> tuple[str, list[str]]:
    """(exercise, check names) for ``target``: an exercise id (all its checks), a graded function (every
    check that grades it), or a check's name. ``None``: the exercise whose functions ``defined`` holds most."""
    import difflib

    from grader.engine import judge
    from grader.exercises import BY_ID, get

    if exercise is not None:
        get(exercise)  # an unknown id fails here, naming the known ones
    refs = {}
    for e in [exercise] if exercise else list(BY_ID):
        with contextlib.suppress(FileNotFoundError):
            refs[e] = judge.load(e)
    if target is None:
        scores = {e: len(defined & {c.functions[0] for c in r.checks}) for e, r in refs.items()}
        best = max(scores, key=scores.get, default=None)
        if best is None or not scores[best]:
            raise ValueError("check() needs to know what to grade: check(\"dpo_loss\"), or an exercise, check(\"dpo\")")
        return best, [c.name for c in refs[best].checks]
    if target in refs:
        return target, [c.name for c in refs[target].checks]
    for e, r in refs.items():
        by_function = [c.name for c in r.checks if c.functions[0] == target]
        if by_function or target in r.by_name:
            return e, by_function or [target]
    names = {n for r in refs.values() for c in r.checks for n in (c.name, c.functions[0])} | set(refs)
    close = difflib.get_close_matches(target, names, n=1)
    raise ValueError(f"nothing to check named {target!r}" + (f"; did you mean {close[0]!r}?" if close else
                     f"; give a function, a check or an exercise: {', '.join(refs)}"))


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and _ipython() is not None


class Source:
    """The code to grade: the cells this kernel ran, as a notebook in a private folder (``In [n]`` is its
    cell n), or a file on disk."""

    folder: str | None = None

    def __init__(self, exercise: str, ip=None, file: str | None = None):
        self.kernel = ip is not None
        if self.kernel:
            if Source.folder is None:
                Source.folder = tempfile.mkdtemp(prefix="rlhf-course-kernel-")
            cells = list(ip.history_manager.input_hist_raw)[1:]
            self.file = os.path.join(Source.folder, f"{exercise}.ipynb")
            with open(self.file, "w", encoding="utf-8") as f:
                json.dump({"cells": [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [],
                                      "execution_count": i} for i, s in enumerate(cells, 1)],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, f)
            self.siblings = os.getcwd()  # the notebook's folder: helper modules the learner imports
        else:
            self.file, self.siblings = str(file), None

    def relabel(self, text):
        """Messages name ``In [n]``, the cell as the learner knows it, not the private copy."""
        if not self.kernel or not isinstance(text, str):
            return text
        return re.sub(re.escape(self.file) + r" \[cell (\d+)\]", r"In [\1]", text)


# --- the grading service ------------------------------------------------------------------------


class Service:
    """The grading service process (``grader.engine.service``) and the lines it sends back."""

    def __init__(self, device: str | None = None):
        from grader.engine.service import BOOT

        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-E", "-s", "-c", BOOT, str(PACKAGE_PARENT), device or ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=tempfile.gettempdir(),
            start_new_session=True)  # a Ctrl-C meant for the kernel does not reach it
        self.lines: queue.Queue = queue.Queue()
        self.ready: dict | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue
        self.lines.put({"event": "failed", "message": "the grading service stopped"})

    def _next(self, timeout: float) -> dict:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return {"event": "failed", "message": f"the grading service did not answer within {timeout:.0f} s"}

    def wait_ready(self) -> dict:
        from grader.engine.supervisor import STARTUP_TIMEOUT_S

        if self.ready is None:
            self.ready = self._next(STARTUP_TIMEOUT_S + MARGIN_S)
        return self.ready

    def alive(self) -> bool:
        return self.proc.poll() is None and (self.ready is None or self.ready.get("event") == "ready")

    def request(self, request: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            return {"event": "failed", "message": "the grading service stopped"}
        return self._next(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self.stderr.close()

    def why(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode(errors="replace").strip()


_service: Service | None = None


def service() -> Service:
    """The kernel's grading service, started on first use (or at import in a kernel) and restarted if it died."""
    global _service
    if _service is not None and not _service.alive():
        _service.close()
        _service = None
    if _service is None:
        _service = Service(os.environ.get("RLHF_COURSE_DEVICE") or None)
    return _service


@atexit.register
def _stop_service() -> None:
    if _service is not None:
        _service.close()


# --- the outcome, shown under the cell ------------------------------------------------------------


@dataclass
class CheckReport:
    exercise: str
    results: list[dict] = field(default_factory=list)
    error: str | None = None
    note: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.results) and all(r["status"] == "pass" for r in self.results)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        if self.error:
            return f"the check could not run: {self.error}"
        lines, previous = [], None
        for r in self.results:
            lines += display.check_lines(r, previous)
            previous = r
        return "\n".join([*lines, *([self.note] if self.note else [])])

    def _repr_html_(self) -> str:
        if self.error:
            return _box("#9a6700", f"<b>the check could not run</b>: {html.escape(self.error)}")
        rows, previous = [], None
        for r in self.results:
            rows.append(_html_result(r, previous))
            previous = r
        if self.note:
            rows.append(f"<div style='opacity:.7'>{html.escape(self.note)}</div>")
        return _box("#1a7f37" if self.passed else "#cf222e", "".join(rows))


COLOURS = {"pass": "#1a7f37", "not_implemented": "#9a6700"}


def _box(colour: str, body: str) -> str:
    return (f"<div style='border-left:4px solid {colour};padding:4px 10px;margin:2px 0;"
            f"font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px)'>{body}</div>")


def _html_result(r: dict, previous: dict | None) -> str:
    mark = display.MARK.get(r["status"], r["status"].upper())
    colour = COLOURS.get(r["status"], "#cf222e")
    points = f" ({r.get('points', 0)}/{r.get('max_points', 1)} points)"
    head = (f"<span style='color:{colour};font-weight:bold'>{mark}</span> <b>{html.escape(r['check'])}</b>: ")
    if r["status"] == "pass":
        return f"<div>{head}passed{points}</div>"
    if display.same_failure(r, previous):
        return f"<div>{head}<span style='opacity:.7'>the same as above</span></div>"
    parts = [f"<div>{head}{html.escape(str(r.get('message', '')))}{points}</div>"]
    for label in ("expected", "got", "hint"):
        if r.get(label) and r["status"] in display.DETAILED:
            parts.append(f"<div style='margin-left:2em;white-space:pre-wrap'><span style='opacity:.7'>{label}:"
                         f"</span> {html.escape(str(r[label]))}</div>")
    return "".join(parts)


# --- check --------------------------------------------------------------------------------------


def check(target: str | None = None, *, exercise: str | None = None) -> CheckReport | None:
    """Grade ``target`` (a function, a check or an exercise) on the code this kernel ran; see the module
    docstring. Returns the report (shown under the cell); outside a kernel, prints it."""
    ip = _ipython()
    caller = sys._getframe(1).f_globals
    defined = {k for k, v in (ip.user_ns if ip else caller).items() if callable(v)}
    name, checks = resolve(target, exercise, defined)
    if ip is None and not str(caller.get("__file__", "")).endswith((".py", ".ipynb")):
        raise RuntimeError("check() grades a notebook's cells in Jupyter, or the file that calls it; "
                           "from a terminal, run `rlhf-course check` instead")
    source = Source(name, ip, None if ip else caller["__file__"])
    report = _grade(name, checks, source)
    if ip is None:
        print(repr(report))
        return None
    return report


def _grade(exercise: str, checks: list[str], source: Source) -> CheckReport:
    from grader.engine.judge import load
    from grader.engine.supervisor import LOAD_TIMEOUT_S, NO_SANDBOX_NOTICE

    svc = service()
    try:
        ready = svc.wait_ready()
        if ready.get("event") != "ready":
            detail = ready.get("message", "") + (f"\n{svc.why()}" if svc.why() else "")
            return CheckReport(exercise, error=detail.strip())
        scale = float(os.environ.get(TIMEOUT_SCALE_VAR) or 1.0)
        ref = load(exercise)
        limit = (LOAD_TIMEOUT_S + sum(ref.by_name[c].timeout_s for c in checks)) * scale + MARGIN_S
        reply = svc.request({"exercise": exercise, "file": source.file, "checks": checks,
                             "siblings_from": source.siblings, "timeout_scale": scale}, limit)
    except KeyboardInterrupt:  # the stop button: the service may be mid-check; a fresh one next time
        svc.close()
        raise
    if reply.get("event") != "results":
        return CheckReport(exercise, error=reply.get("message", "no answer from the grading service"))
    results = [{k: source.relabel(v) for k, v in r.items()} for r in reply["results"]]
    note = None if ready.get("sandboxed") else NO_SANDBOX_NOTICE.format(why=ready.get("note") or "?")
    return CheckReport(exercise, results, note=note)


if _in_kernel():  # warm up now: the service starts torch in its sandbox while the learner reads the lesson
    with contextlib.suppress(OSError):
        service()
