"""The graders on CUDA and MPS: every exercise's reference passes there with the device tolerances.

CI has no GPU, so these skip there with the reason; run them on a machine that has one."""

import pytest
import torch

from grader.engine.local import run_exercise
from grader.devices import cuda_available, mps_available, prepare
from grader.exercises import EXERCISES
from tests.reference import solution

DEVICES = [
    pytest.param("cuda", marks=pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU on this machine")),
    pytest.param("mps", marks=pytest.mark.skipif(not mps_available(), reason="no Apple MPS device on this machine")),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("exercise", [e.id for e in EXERCISES])
def test_reference_passes_on_accelerator(device, exercise):
    outcomes = run_exercise(exercise, solution(exercise), prepare(torch.device(device)))
    failed = [o.describe() for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)
