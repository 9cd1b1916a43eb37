"""Each reference opens as a notebook and runs top to bottom, demos included, without an error."""

import jupytext
import pytest
from nbclient import NotebookClient

from grader.exercises import EXERCISES
from tests.reference import ROOT

SPREAD_OVER_WORKERS = True  # each notebook is independent and costs seconds: one per worker under pytest-xdist
# A bound that only catches a hang: the demos take seconds, but minutes on a loaded machine.
CELL_TIMEOUT_S = 900


@pytest.mark.parametrize("exercise", [e.id for e in EXERCISES])
def test_reference_notebook_runs_top_to_bottom(exercise, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel's torch: one thread, as the graders use
    nb = jupytext.read(ROOT / "solutions" / f"{exercise}.py")
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, allow_errors=False, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") == "stream" for o in outputs), "the demos print their results"
