"""Generate the learner stubs in ``exercises/`` from the references in ``solutions/``.

The stripping is nbgrader's own (``ClearSolutions``: each ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
region becomes ``raise NotImplementedError()``) and the round trip is jupytext's, so the stub is
exactly what an nbgrader student would receive. ``rlhf-course stubs`` rewrites ``exercises/``; a test
fails when a committed stub drifts from this output.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

HEADER = ("# This file is generated from solutions/{id}.py by `rlhf-course stubs`; edit it freely to solve\n"
          "# the exercise (regenerating overwrites it).\n")


def read_solution(path: Path):
    """The reference as a notebook (jupytext percent format, nbgrader cell metadata)."""
    return jupytext.read(path, fmt="py:percent")


def strip(nb):
    """Clear solution regions and hidden tests with nbgrader's own preprocessors."""
    resources: dict = {}
    nb, resources = ClearSolutions(enforce_metadata=True).preprocess(nb, resources)
    nb, resources = ClearHiddenTests(enforce_metadata=True).preprocess(nb, resources)
    return nb


def stub_text(solution_path: Path) -> str:
    nb = strip(read_solution(solution_path))
    for cell in nb.cells:  # learners don't need grading metadata; instructors get it from solutions/
        cell.metadata.pop("nbgrader", None)
    # No notebook header: it would carry jupytext's version and make the stub drift between installs.
    nb.metadata["jupytext"] = {"notebook_metadata_filter": "-all"}
    text = jupytext.writes(nb, fmt="py:percent")
    return HEADER.format(id=solution_path.stem) + text


def write_stubs(root: Path, ids: list[str]) -> list[Path]:
    written = []
    for exercise in ids:
        target = root / "exercises" / f"{exercise}.py"
        target.write_text(stub_text(root / "solutions" / f"{exercise}.py"), encoding="utf-8")
        written.append(target)
    return written
