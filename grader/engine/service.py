"""A grading service for a notebook kernel: one warm sandboxed executor and the judge, in a process of their own.

``grader.live.check`` (in the learner's kernel) starts it once, with a fresh interpreter (never a fork of the
kernel, whose state the learner's code controls), and sends it one JSON line per request on stdin:

    {"exercise": "dpo", "file": "/tmp/.../dpo.ipynb", "checks": ["dpo_loss"], "siblings_from": "/home/me/course/exercises"}

It answers ``{"event": "ready", ...}`` once the executor is up (or ``{"event": "failed", "message": ...}``), then
one ``{"event": "results", "results": [...]}`` per request: the same ``grade`` as ``rlhf-course check``, so the
learner's code runs only in the sandboxed executor and the verdicts are reached here, outside both the sandbox
and the kernel. It exits when its stdin closes (the kernel went away). No torch is imported here.
"""

from __future__ import annotations

import json
import sys

BOOT = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
        "runpy.run_module('grader.engine.service', run_name='__main__')")


def _emit(out, **event) -> None:
    out.write(json.dumps(event) + "\n")
    out.flush()


def serve(stdin, out, device: str | None = None) -> int:
    from grader.engine.sandbox import SandboxUnavailable
    from grader.engine.supervisor import BadRequest, Executor, ExecutorFailed, grade

    executor = Executor(device)
    try:
        executor.start()
    except (BadRequest, SandboxUnavailable, ExecutorFailed) as exc:
        _emit(out, event="failed", message=str(exc))
        return 1
    try:
        _emit(out, event="ready", device=executor.device, reason=executor.device_reason,
              sandboxed=executor.sandboxed, note=executor.sandbox_note)
        for line in stdin:
            try:
                request = json.loads(line)
                report = grade([(request["exercise"], request["file"])], executor=executor,
                               checks=set(request["checks"]) if request.get("checks") else None,
                               siblings_from=request.get("siblings_from"),
                               timeout_scale=float(request.get("timeout_scale", 1.0)))
                _emit(out, event="results", results=report.results)
            except ExecutorFailed as exc:
                _emit(out, event="failed", message=str(exc))
                return 1
            except Exception as exc:  # noqa: BLE001 - a bad request or a grader bug: say so, keep serving
                _emit(out, event="error", message=f"{type(exc).__name__}: {exc}")
    finally:
        executor.stop()
    return 0


def main(argv: list[str]) -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but protocol lines on the real stdout
    return serve(sys.stdin, out, argv[0] if argv and argv[0] else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
