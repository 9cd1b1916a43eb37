"""Observe and judge in one process, for *trusted* namespaces only: the reference solution and the
catalogue's mistakes, in the project's own tests and in ``rlhf-course refs``. A learner's code never
comes here; it goes through ``grader.engine.supervisor`` (the sandboxed executor).

It is the same path as a real grading minus the process boundary: the executor's ``observe`` and the
wire format, then the judge's ``verdict``.
"""

from __future__ import annotations

from typing import Any, Mapping

from grader.engine import judge
from grader.engine.executor import observe_for_judge


def run_check(exercise: str, check, ns: Mapping[str, Any], device, learner_files: tuple[str, ...] = (),
              ref: judge.Reference | None = None) -> judge.Outcome:
    from grader.devices import prepare

    ref = ref or judge.load(exercise)
    reply = observe_for_judge(exercise, check, ns, prepare(device), learner_files, ref.variant)
    return judge.verdict(exercise, check.name, reply, device.type, ref)


def run_exercise(exercise: str, ns: Mapping[str, Any], device=None, only: tuple[str, ...] = (),
                 learner_files: tuple[str, ...] = ()) -> list[judge.Outcome]:
    from grader.checking import checks_module
    from grader.devices import pick_device

    device = device or pick_device().device
    ref, failed = judge.load(exercise), {}
    return [judge.explain_by_earlier(run_check(exercise, c, ns, device, learner_files, ref), ref, failed)
            for c in checks_module(exercise).CHECKS if not only or c.name in only]
