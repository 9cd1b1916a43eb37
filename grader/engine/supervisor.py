"""The supervisor: grades submissions through the sandboxed executor and the judge, surviving anything.

An infinite loop becomes a ``timeout`` outcome for that check, a dying learner process (``os._exit``,
a segfault, running out of memory) an ``error`` outcome; in both cases a fresh learner process is
forked from the warm executor past that check, so the remaining checks still run. The executor sends
observations; the judge (in this process) decides. This module imports neither torch nor learner code.

``Executor`` is the warm executor; one can grade many submissions in a row (a batch, a watch loop):

    with Executor() as ex:
        report = grade([("dpo", "a/dpo.ipynb")], executor=ex)
        report = grade([("dpo", "b/dpo.ipynb")], executor=ex)   # no start-up cost
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from grader.engine import judge, sandbox
from grader.engine.cgroups import SandboxCgroup
from grader.messages import DIED_HINT, TIMEOUT_HINT, died_message, timeout_message

STARTUP_TIMEOUT_S = 300.0  # importing torch and loading the tiny models on a loaded machine
LOAD_TIMEOUT_S = 60.0  # loading the learner's file (its imports and definitions)
MARGIN_S = 30.0  # the executor enforces each limit; the supervisor waits this much longer before giving up on it
EXECUTOR_BYTES = 2 << 30  # the warm executor itself (torch, transformers, the tiny models), on top of the learner's budget
MAX_SIBLINGS = 50  # .py files copied from beside the submission (a learner's helper modules)
MAX_COPY_BYTES = 20 << 20
PACKAGE_DIR = Path(__file__).resolve().parent.parent

EXECUTOR_BOOT = "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); runpy.run_module('grader.engine.executor', run_name='__main__')"
NO_SANDBOX_NOTICE = "note: your code runs without a sandbox here ({why}); grading still works"
TOO_LARGE_MESSAGE = "sent back more data than any check needs"


class BadRequest(Exception):
    """The request cannot be graded here (e.g. a device this machine does not have)."""


class ExecutorFailed(RuntimeError):
    """The executor itself could not start or stopped answering (not the learner's fault)."""


@dataclass
class Report:
    device: str = ""
    device_reason: str = ""
    sandboxed: bool = False
    sandbox_note: str = ""  # why not, when it is not
    plans: dict[str, list[list]] = field(default_factory=dict)  # exercise -> [[check, points], ...]
    results: list[dict] = field(default_factory=list)


def _reader(stream, q: queue.Queue, limit: int) -> None:
    while True:
        line = stream.readline(limit)
        if not line:
            break
        q.put(line)
    q.put(None)


class Executor:
    """A warm executor process (in the sandbox when one can run), and the staging folder it reads
    submissions from. ``require_sandbox``: raise ``SandboxUnavailable`` rather than run unsandboxed."""

    def __init__(self, device: str | None = None, require_sandbox: bool = False,
                 limits: sandbox.Limits = sandbox.Limits()):
        self.device_request, self.require_sandbox, self.limits = device, require_sandbox, limits
        self.proc: subprocess.Popen | None = None
        self.cgroup: SandboxCgroup | None = None  # the whole sandbox's memory and process cap, where one can be made
        self.staging: str | None = None
        self.device = self.device_reason = ""
        self.sandboxed, self.sandbox_note = False, ""
        self.staged: dict[str, str] = {}  # path inside the executor -> the learner's path
        self.uid: int | None = None  # the learner processes' own uid, when the grader is root and sandboxed

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> "Executor":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        ok, why = sandbox.available()
        if not ok and self.require_sandbox:
            raise sandbox.SandboxUnavailable(f"grading needs a sandbox and none can run here: {why}")
        self.sandboxed, self.sandbox_note = ok, "" if ok else why
        self.uid = sandbox.fresh_uid() if ok and sandbox.privileged() else None
        _ensure_models()
        self.staging = tempfile.mkdtemp(prefix="rlhf-course-submission-")
        os.chmod(self.staging, 0o755)  # the learner process's uid must read it
        config = {"device": self.device_request, "limits": self.limits.__dict__,
                  "drop_to_uid": self.uid,
                  "limit_processes": ok, "sandboxed": ok}
        # -E -s: no environment variables or user site-packages of the learner's shell; the grader imported is this
        # very package (its parent folder goes first on sys.path), whatever the install points at.
        argv = [sys.executable, "-E", "-s", "-c", EXECUTOR_BOOT, str(PACKAGE_DIR.parent), json.dumps(config)]
        env = _executor_env()
        if ok:
            from grader.model_cache import cache_dir

            argv = sandbox.command(argv, self.staging, str(PACKAGE_DIR), str(cache_dir()), env)
            self.root = sandbox.SUBMISSION_DIR
        else:
            self.root = self.staging
        self.cgroup = SandboxCgroup.create(os.path.basename(self.staging), self.limits.memory_bytes + EXECUTOR_BYTES,
                                           self.limits.processes) if ok else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, **env} if not ok else None, cwd=self.staging,
                                     preexec_fn=self.cgroup.add_self if self.cgroup else None)
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(self.proc.stdout, self.q, 4 * self.limits.reply_bytes),
                         daemon=True).start()
        event = self._next(STARTUP_TIMEOUT_S)
        if event.get("event") == "bad_request":
            self.stop()
            raise BadRequest(event["message"])
        if event.get("event") != "ready":
            detail = event.get("traceback") or self._stderr()
            self.stop()
            raise ExecutorFailed(f"the grader's executor did not start: {detail}")
        self.device, self.device_reason = event["device"], event["reason"]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                stream.close()
            self.proc = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _stderr(self) -> str:
        try:
            self.proc.wait(timeout=5)
            return self.proc.stderr.read(4000).decode(errors="replace").strip() or f"exit code {self.proc.returncode}"
        except subprocess.TimeoutExpired:
            return "it stopped answering"

    def _next(self, timeout: float) -> dict:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            return {"event": "lost", "why": "stopped answering"}
        if line is None:
            return {"event": "lost", "why": "ended"}
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            return {"event": "lost", "why": "sent garbage"}

    def _request(self, request: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"event": "lost", "why": "ended"}
        return self._next(timeout + MARGIN_S)

    # -- one submission ----------------------------------------------------------------------------

    def stage(self, file: str, siblings_from: str | None = None) -> str:
        """Copy the submission (and the .py files beside it, or in ``siblings_from``) into the staging
        folder; its path inside."""
        for entry in os.listdir(self.staging):
            path = os.path.join(self.staging, entry)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        src = Path(file)
        budget = MAX_COPY_BYTES
        siblings = sorted(p for p in Path(siblings_from or src.parent).glob("*.py") if p.name != src.name)
        siblings = siblings[:MAX_SIBLINGS]
        for p in (src, *siblings):
            try:
                data = _read_regular_file(p, budget)
            except OSError:
                if p == src:
                    raise
                continue  # a symlink, a folder, a fifo or too big: a helper module is a plain small file
            budget -= len(data)
            target = os.path.join(self.staging, p.name)
            with open(target, "wb") as f:
                f.write(data)
            os.chmod(target, 0o644)
        inside = f"{self.root}/{src.name}"
        self.staged = {inside: str(src)}
        return inside

    def open(self, exercise: str, inside: str, timeout: float, variant: int = 0) -> dict:
        return self._request({"op": "open", "exercise": exercise, "file": inside, "timeout": timeout,
                              "variant": variant}, timeout)

    def check(self, name: str, timeout: float) -> dict:
        return self._request({"op": "check", "check": name, "timeout": timeout}, timeout)

    def close(self) -> None:
        event = self._request({"op": "close"}, 0)
        if event.get("event") != "closed":
            self.restart()

    def unstage(self, text: str | None) -> str | None:
        """The learner's own path in place of the staging path, in messages and tracebacks."""
        if text is None:
            return None
        for inside, original in self.staged.items():
            text = text.replace(inside, original)
        return text


def _read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, never through a symlink (a link beside a submission could point at
    anything the grader may read: solutions, stored observations, the gradebook)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)[:limit]
    finally:
        os.close(fd)


def _executor_env() -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_HOME": "/tmp/hf", "MPLCONFIGDIR": "/tmp/mpl", "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
    from grader.model_cache import CACHE_ENV, cache_dir

    env[CACHE_ENV] = str(cache_dir())
    for key in ("RLHF_COURSE_DEVICE", "CUDA_VISIBLE_DEVICES"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _ensure_models() -> None:
    """Build the tiny models (trusted code, before any learner code runs): the sandbox sees the cache read-only."""
    from grader.model_cache import built

    if built():
        return
    code = "from grader.tiny_models import tiny_model_dir; tiny_model_dir('gpt2'); tiny_model_dir('bert')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        raise ExecutorFailed("could not build the tiny models:\n" + r.stderr[-4000:])


# --- grading ------------------------------------------------------------------------------------


def grade(jobs: Iterable[tuple[str, str]], device: str | None = None, timeout_scale: float = 1.0,
          on_event: Callable[[dict], None] | None = None, executor: Executor | None = None,
          require_sandbox: bool = False, siblings_from: str | None = None,
          references: dict[str, judge.Reference] | None = None, checks: set[str] | None = None) -> Report:
    """Grade ``(exercise_id, file)`` pairs; returns every check's outcome as a dict, in check order.
    ``siblings_from``: take the helper modules from that folder instead of the file's own. ``references``: judge
    these exercises with these stored observations (a course's secret inputs) instead of the public ones.
    ``checks``: only these checks (by name), e.g. those a mutant's function is graded by."""
    jobs = list(jobs)
    report = Report()
    refs = {exercise: (references or {}).get(exercise) or judge.load(exercise) for exercise, _ in jobs}
    for exercise, _ in jobs:
        report.plans[exercise] = [[c.name, c.points] for c in refs[exercise].checks]
    own = executor is None
    try:
        if own:
            executor = Executor(device, require_sandbox)
            executor.start()
    except ExecutorFailed as exc:
        report.results.append({"exercise": "", "check": "(startup)", "status": "error", "message": str(exc),
                               "hint": "this is not your code: please report it", "points": 0, "max_points": 0})
        return report
    try:
        report.device, report.device_reason = executor.device, executor.device_reason
        report.sandboxed, report.sandbox_note = executor.sandboxed, executor.sandbox_note
        for exercise, file in jobs:
            for result in _grade_one(executor, refs[exercise], exercise, file, timeout_scale, siblings_from, checks):
                report.results.append(result)
                if on_event:
                    on_event({"event": "result", **result})
    finally:
        if own:
            executor.stop()
    return report


def _grade_one(executor: Executor, ref: judge.Reference, exercise: str, file: str, scale: float,
               siblings_from: str | None = None, only: set[str] | None = None):
    """Yield each check's outcome (as a dict) for one submission."""
    todo = [c for c in ref.checks if only is None or c.name in only]
    failed: dict[str, str] = {}  # for "fix `X` first" (judge.explain_by_earlier)
    while todo:
        inside = executor.stage(file, siblings_from)
        event = executor.open(exercise, inside, LOAD_TIMEOUT_S * scale, ref.variant)
        loaded = event.get("event") == "reply" and isinstance(event.get("reply"), dict)
        if not loaded or "load_error" in event["reply"]:
            if loaded:
                message, status, hint = (executor.unstage(str(event["reply"]["load_error"])[:judge.MAX_TEXT]),
                                         "error", "fix the file so that it runs, then check again")
            else:
                status, message, hint = _lost(executor, event, LOAD_TIMEOUT_S * scale)
                message = f"loading your file {message}"
            for c in todo:
                yield _failure(exercise, c, status, message, hint).to_dict()
            executor.close()
            return
        while todo:
            c = todo.pop(0)
            event = executor.check(c.name, c.timeout_s * scale)
            if event.get("event") == "reply" and isinstance(event.get("reply"), dict):
                try:
                    outcome = judge.verdict(exercise, c.name, event["reply"], executor.device.split(":")[0], ref)
                except Exception as exc:  # noqa: BLE001 - a grader bug: this check fails, the batch goes on
                    outcome = judge.Outcome(exercise, c.name, "error", max_points=c.points,
                                            message=f"the grader failed on this check: {type(exc).__name__}: {exc}",
                                            hint="this is not your code: please report it")
                for key in ("message", "expected", "got", "hint"):
                    setattr(outcome, key, executor.unstage(getattr(outcome, key)))
                yield judge.explain_by_earlier(outcome, ref, failed).to_dict()
                continue
            status, message, hint = _lost(executor, event, c.timeout_s * scale)
            yield judge.explain_by_earlier(_failure(exercise, c, status, message, hint), ref, failed).to_dict()
            break  # a fresh learner process for the checks that remain
        executor.close()


def _lost(executor: Executor, event: dict, timeout: float) -> tuple[str, str, str]:
    """Status, message and hint for a check that got no reply; restarts the executor if it was lost."""
    kind = event.get("event")
    if kind == "timeout":
        return "timeout", timeout_message(timeout), TIMEOUT_HINT
    if kind == "died":
        return "error", died_message(event.get("code")), DIED_HINT
    if kind == "too_large":
        return "error", TOO_LARGE_MESSAGE, "do not return or print huge objects from your functions"
    executor.restart()  # the executor itself hung or died: a new one for what remains
    return "timeout", timeout_message(timeout), TIMEOUT_HINT


def _failure(exercise: str, check: judge.CheckInfo, status: str, message: str, hint: str) -> judge.Outcome:
    return judge.Outcome(exercise, check.name, status, message=message, hint=hint, max_points=check.points)
