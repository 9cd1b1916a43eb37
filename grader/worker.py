"""The grading worker: a child process that imports torch, loads learner files and runs checks.

It speaks JSON lines on a private copy of stdout; the learner's own prints go to a capped sink, so a
learner printing megabytes cannot flood the report. The parent (``grader.supervise``) watches the
events, kills the worker on a timeout or notes its death, and restarts it past the check that hung.

Events: {"event": "device"}, {"event": "plan"}, {"event": "start"}, {"event": "result"},
{"event": "bad_request"} (e.g. a device this machine lacks), {"event": "fatal"} (a grader bug).
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback


class CappedSink(io.TextIOBase):
    """Keeps the first ``limit`` characters written to it and counts the rest."""

    def __init__(self, limit: int = 20_000):
        self.limit, self.kept, self.total = limit, [], 0

    def write(self, s: str) -> int:
        if self.total < self.limit:
            self.kept.append(s[: self.limit - self.total])
        self.total += len(s)
        return len(s)

    def writable(self) -> bool:
        return True


def main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")

    def emit(**event) -> None:
        proto.write(json.dumps(event) + "\n")
        proto.flush()

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sink = CappedSink()
    sys.stdout = sys.stderr = sink
    try:
        from grader.checking import checks_module, run_check
        from grader.devices import pick_device, prepare
        from grader.learner import LoadError, load_namespace

        try:
            choice = pick_device(job.get("device"))
        except ValueError as exc:
            emit(event="bad_request", message=str(exc))
            return 2
        device = prepare(choice.device)
        emit(event="device", device=str(device), reason=choice.reason)
        skip = {tuple(s) for s in job.get("skip", [])}
        for item in job["exercises"]:
            exercise, path = item["id"], item["file"]
            checks = checks_module(exercise).CHECKS
            emit(event="plan", exercise=exercise, checks=[[c.name, c.points] for c in checks])
            todo = [c for c in checks if (exercise, c.name) not in skip]
            if not todo:
                continue
            emit(event="start", exercise=exercise, check="(loading your file)", timeout=60)
            try:
                ns = load_namespace(path)
            except LoadError as exc:
                for c in todo:
                    emit(event="result", exercise=exercise, check=c.name, status="error", message=str(exc),
                         max_points=c.points, hint="fix the file so that it runs, then check again")
                continue
            files = (os.path.abspath(path),)
            for c in todo:
                emit(event="start", exercise=exercise, check=c.name, timeout=c.timeout_s)
                outcome = run_check(exercise, c, ns, device, files)
                emit(event="result", **outcome.to_dict())
    except Exception:  # noqa: BLE001 - a grader bug: report it rather than dying silently
        emit(event="fatal", traceback=traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
