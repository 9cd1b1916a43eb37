"""The graders also run as pytest tests, selected by the exercise's marker."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(*args):
    return subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "grader.learner_checks", "-q",
                           "-p", "no:cacheprovider", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_stub_fails_as_not_implemented_and_reference_passes():
    r = run_pytest("-m", "dpo")
    assert r.returncode == 1 and "not implemented yet" in r.stdout and "4 failed" in r.stdout
    r = run_pytest("-m", "dpo", "--exercise-file", "solutions/dpo.py")
    assert r.returncode == 0 and "4 passed" in r.stdout


def test_markers_are_registered():
    r = subprocess.run([sys.executable, "-m", "pytest", "--markers"], cwd=ROOT, capture_output=True, text=True)
    assert "@pytest.mark.dpo:" in r.stdout
