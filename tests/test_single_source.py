"""One source per exercise: the committed stubs and stored reference outputs are exactly what the
generators make from solutions/, and the stubs carry no solution."""

import pytest

from grader.engine import judge
from grader.engine.judge import close
from grader.tolerances import tolerance
from grader.exercises import EXERCISES
from grader.course.stubs import stub_text
from tests.reference import ROOT

SPREAD_OVER_WORKERS = True  # the per-exercise tests are independent: spread them under pytest-xdist

IDS = [e.id for e in EXERCISES]


@pytest.mark.parametrize("exercise", IDS)
def test_stub_matches_the_generator(exercise):
    committed = (ROOT / "exercises" / f"{exercise}.py").read_text()
    assert committed == stub_text(ROOT / "solutions" / f"{exercise}.py"), \
        f"exercises/{exercise}.py drifted from solutions/{exercise}.py: run `rlhf-course stubs {exercise}`"


@pytest.mark.parametrize("exercise", IDS)
def test_stub_has_no_solution(exercise):
    stub = (ROOT / "exercises" / f"{exercise}.py").read_text()
    solution = (ROOT / "solutions" / f"{exercise}.py").read_text()
    assert "BEGIN SOLUTION" not in stub and "HIDDEN TESTS" not in stub
    for region in solution.split("### BEGIN SOLUTION")[1:]:
        body = region.split("### END SOLUTION")[0]
        for line in body.strip().splitlines():
            if len(line.strip()) > 25:  # distinctive solution lines must not survive stripping
                assert line.strip() not in stub, line


@pytest.mark.parametrize("exercise", IDS)
def test_stored_references_are_fresh(exercise):
    from grader.course.refs import compute

    judge.load.cache_clear()
    stored = judge.load(exercise)
    fresh = compute(exercise)
    hint = f"run `rlhf-course refs {exercise}`"
    assert stored.meta == fresh.meta, f"the checks' points, limits or hints changed: {hint}"
    assert stored.expected.keys() == fresh.expected.keys(), hint
    for check, obs in fresh.expected.items():
        assert stored.expected[check].keys() == obs.keys(), f"{check}: {hint}"
        # The judge's own CPU tolerance: the stored observations must grade the reference as passing on any
        # CPU (an observation that should be zero is float noise, ~1e-7, on another one).
        assert all(close(stored.expected[check][k], v, *tolerance("cpu")) for k, v in obs.items()), f"{check}: {hint}"
    for check, by_mistake in fresh.mistakes.items():
        assert stored.mistakes[check].keys() == by_mistake.keys(), f"{check}: {hint}"


def test_every_exercise_has_its_files():
    for e in EXERCISES:
        for path in (e.lesson, e.solution, e.stub):
            assert (ROOT / path).exists(), path
        assert judge.reference_path(e.id).exists()


def test_the_package_ships_no_reference_code(tmp_path):
    """A built wheel holds the grader and stored outputs, never solutions/ or tests/."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("grader/reference/") for n in names)
    assert not any(n.startswith(("solutions/", "tests/", "exercises/")) for n in names), names
    for n in names:
        if n.endswith(".py"):
            text = zipfile.ZipFile(wheel).read(n).decode()
            assert not any(line.strip() == "### BEGIN SOLUTION" for line in text.splitlines()), n


@pytest.mark.parametrize("exercise", IDS)
def test_every_check_is_decided_by_compared_observations(exercise):
    """A check with nothing to compare would pass whatever the executor claims: the judge needs, for every
    check, at least one observation it compares with the reference's (bounds alone can be forged)."""
    ref = judge.load(exercise)
    for check, observations in ref.expected.items():
        assert [k for k in observations if k not in ref.bounded], f"{exercise}.{check} compares nothing"
