"""Checking yourself from inside your notebook: what a grade cell does when *you* run it.

    from grader.notebook import grade
    grade("dpo", "dpo_loss")

runs one check (``grader/checks/dpo.py``) on the functions defined in the notebook and prints a pass
line, or raises ``GradeFailed`` (an ``AssertionError``) whose message is the outcome's expected / got /
hint lines and nothing else: no traceback that would show the grade cell's source.

On Linux the check runs in a forked copy of the kernel: a learner's infinite loop stops after the
check's own time limit and a learner's ``os._exit`` or crash ends only the copy, so the kernel lives
on. Elsewhere (no safe ``fork``) the check runs in the kernel itself.

This is self-assessment in the learner's own kernel, which the learner controls. Instructor grading
never comes here: nbgrader's autograde grades each submission through the sandboxed executor from a
trusted process (``grader.course.nbgrader_autograde``) and does not execute the grade cells at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import sys
import time
import traceback
import warnings
from typing import Any, Mapping

from grader.messages import DIED_HINT, TIMEOUT_HINT, died_message, timeout_message

TIMEOUT_SCALE_VAR = "RLHF_COURSE_TIMEOUT_SCALE"  # multiplies every check's time limit (slow machines, tests)


class GradeFailed(AssertionError):
    """A check did not pass; its message is all a learner (or a feedback page) sees."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def grade(exercise: str, check: str, ns: Mapping[str, Any] | None = None) -> None:
    """Run one check on ``ns`` (default: the caller's globals); raise ``GradeFailed`` unless it passes.

    Returns nothing, so that a notebook shows only the pass line."""
    from grader.checking import checks_module
    from grader.exercises import get

    get(exercise)  # an unknown id fails here, naming the known ones
    if ns is None:
        ns = sys._getframe(1).f_globals  # the notebook's namespace, where the learner's functions live
    checks = {c.name: c for c in checks_module(exercise).CHECKS}
    if check not in checks:
        raise ValueError(f"exercise {exercise!r} has no check {check!r}; its checks: {', '.join(checks)}")
    with _quiet():
        outcome = _run(exercise, checks[check], ns)
    if not outcome.passed:
        raise GradeFailed(f"{outcome.describe()}\n({outcome.points}/{outcome.max_points} points)")
    print(f"{outcome.check}: passed ({outcome.points}/{outcome.max_points} points)")


@contextlib.contextmanager
def _quiet():
    """Keep everything grading writes out of the cell: nbgrader scores a grade cell 0 as soon as it shows
    anything on stderr, a library's warning included. Learner prints go to a capped sink."""
    from grader.engine.executor import CappedSink

    sink, disabled = CappedSink(), logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)


def _run(exercise: str, check, ns: Mapping[str, Any]):
    from grader.engine.local import run_check

    isolate = hasattr(os, "fork") and sys.platform.startswith("linux")
    device = _device(forking=isolate)
    if not isolate:
        return run_check(exercise, check, ns, device)
    _warm_up(exercise, ns)
    scale = float(os.environ.get(TIMEOUT_SCALE_VAR) or 1.0)
    return _run_forked(exercise, check, ns, device, check.timeout_s * scale)


def _warm_up(exercise: str, ns: Mapping[str, Any]) -> None:
    """Load once, in the kernel, what every forked check would otherwise load again (a child's imports
    die with it): the stored references, and transformers' model code when the notebook uses the
    course's tiny models (importing it costs seconds; loading the tiny weights themselves does not)."""
    from grader import tiny_models
    from grader.engine import judge

    judge.load(exercise)
    loaders = (tiny_models.load_gpt2, tiny_models.load_bert)
    if any(any(v is f for f in loaders) for v in ns.values()):
        from transformers import AutoTokenizer, BertModel, GPT2LMHeadModel  # noqa: F401


def _device(forking: bool):
    import torch

    from grader.devices import pick_device, prepare

    device = pick_device().device
    if forking and device.type == "cuda" and torch.cuda.is_initialized():
        device = torch.device("cpu")  # a forked process cannot use CUDA once its parent has
    return prepare(device)


def _run_forked(exercise: str, check, ns: Mapping[str, Any], device, timeout_s: float):
    """Run the check in a forked child; a hang or a death there becomes an outcome here."""
    from grader.engine.judge import Outcome
    from grader.engine.local import run_check

    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process (the kernel)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: grade, send the outcome, and leave without running the kernel's exit hooks
        code = 0
        try:
            os.close(read_end)
            _silence_child()
            try:
                message = {"outcome": run_check(exercise, check, ns, device).to_dict()}
            except Exception:  # noqa: BLE001 - run_check reports every learner error; this is a grader bug
                message = {"fatal": traceback.format_exc()}
            data = json.dumps(message).encode()
            while data:
                data = data[os.write(write_end, data):]
        except SystemExit as exc:  # the learner's sys.exit(): a death like any other
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks, deadline, timed_out, finished = [], time.monotonic() + timeout_s, False, False
    try:
        while not (timed_out or finished):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                timed_out = True
            else:
                chunks.append(os.read(read_end, 1 << 16))
                finished = not chunks[-1]  # end of file: the child has sent all and is leaving
    finally:  # also on KeyboardInterrupt (nbgrader's cell timeout, or the stop button)
        os.close(read_end)
        if not finished:
            _kill(pid)
        _, status = os.waitpid(pid, 0)
    try:
        message = json.loads(b"".join(chunks)) if finished else {}
    except ValueError:  # died halfway through sending
        message = {}
    if "fatal" in message:
        raise RuntimeError("the grader itself failed (please report this):\n" + message["fatal"])
    if "outcome" in message:
        return Outcome(**message["outcome"])
    out = Outcome(exercise, check.name, "timeout" if timed_out else "error", max_points=check.points)
    if timed_out:
        out.message, out.hint = timeout_message(timeout_s), TIMEOUT_HINT
    else:
        code = os.waitstatus_to_exitcode(status)
        out.message, out.hint = died_message(code), DIED_HINT
    return out


def _silence_child() -> None:
    """Nothing the child writes may reach the notebook (``_quiet`` already holds sys.stdout/stderr)."""
    import torch

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # ipykernel forwards a forked child's writes to the kernel's streams into the cell, and objects made
    # before the fork (logging handlers, progress bars) still hold those streams.
    iostream = sys.modules.get("ipykernel.iostream")
    if iostream is not None:
        iostream.OutStream.write = lambda self, text: len(text)
    # OpenMP's worker threads do not survive fork; a parallel region would wait for them forever.
    torch.set_num_threads(1)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
