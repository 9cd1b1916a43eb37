"""Run the grading worker in a child process and survive whatever the learner's code does.

An infinite loop becomes a ``timeout`` outcome for that check, a dying interpreter (``os._exit``, a
segfault, out of memory) an ``error`` outcome; in both cases the worker is restarted past that check
so that the remaining checks still run. This module does not import torch.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable

from grader.messages import DIED_HINT, TIMEOUT_HINT, died_message, timeout_message

STARTUP_TIMEOUT_S = 300.0  # importing torch and building the tiny models the first time


class BadRequest(Exception):
    """The request cannot be graded here (e.g. a device this machine does not have)."""


@dataclass
class Report:
    device: str = ""
    device_reason: str = ""
    plans: dict[str, list[list]] = field(default_factory=dict)  # exercise -> [[check, points], ...]
    results: list[dict] = field(default_factory=list)


def _reader(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def grade(jobs: Iterable[tuple[str, str]], device: str | None = None, timeout_scale: float = 1.0,
          on_event: Callable[[dict], None] | None = None) -> Report:
    """Grade ``(exercise_id, file)`` pairs; returns every check's outcome as a dict."""
    jobs = list(jobs)
    report = Report()
    done: set[tuple[str, str]] = set()
    while True:
        job = {"exercises": [{"id": e, "file": f} for e, f in jobs], "device": device,
               "skip": sorted(done)}
        proc = subprocess.Popen([sys.executable, "-m", "grader.worker", json.dumps(job)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                text=True, encoding="utf-8", env={**os.environ, "PYTHONUNBUFFERED": "1"})
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        current: dict | None = None
        timeout = STARTUP_TIMEOUT_S
        restart = False
        while True:
            try:
                line = q.get(timeout=timeout * timeout_scale)
            except queue.Empty:
                proc.kill()
                proc.wait()
                restart = _record_failure(report, done, current, "timeout",
                                          timeout_message(timeout * timeout_scale), TIMEOUT_HINT)
                break
            if line is None:
                code = proc.wait()
                if code != 0 or current is not None:
                    restart = _record_failure(report, done, current, "error", died_message(code), DIED_HINT)
                break
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "device":
                report.device, report.device_reason = event["device"], event["reason"]
            elif kind == "plan":
                report.plans[event["exercise"]] = event["checks"]
            elif kind == "start":
                current, timeout = event, float(event["timeout"])
            elif kind == "result":
                report.results.append(event)
                done.add((event["exercise"], event["check"]))
                current, timeout = None, STARTUP_TIMEOUT_S
            elif kind == "bad_request":
                proc.wait()
                raise BadRequest(event["message"])
            elif kind == "fatal":
                proc.wait()
                raise RuntimeError("the grader itself failed (please report this):\n" + event["traceback"])
            if on_event:
                on_event({"event": kind, **event})
        if not restart:
            return report


def _record_failure(report: Report, done: set, current: dict | None, status: str, message: str,
                    hint: str) -> bool:
    """Record the check that was running as failed; return True if grading should go on."""
    if current is None:
        report.results.append({"exercise": "", "check": "(startup)", "status": status, "message": message,
                               "hint": hint, "points": 0, "max_points": 0})
        return False
    exercise, check = current["exercise"], current["check"]
    names = [check]
    if check == "(loading your file)":  # every check of that exercise is lost
        names = [c for c, _ in report.plans.get(exercise, [])]
        message = f"loading your file {message}"
    points = dict((c, p) for c, p in report.plans.get(exercise, []))
    for name in names:
        report.results.append({"exercise": exercise, "check": name, "status": status, "message": message,
                               "hint": hint, "points": 0, "max_points": points.get(name, 1)})
        done.add((exercise, name))
    return True
