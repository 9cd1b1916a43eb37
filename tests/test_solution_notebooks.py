"""Each reference opens as a notebook and runs top to bottom, demos included, without an error."""

import jupytext
import pytest
from nbclient import NotebookClient

from grader.exercises import EXERCISES
from tests.reference import ROOT


@pytest.mark.parametrize("exercise", [e.id for e in EXERCISES])
def test_reference_notebook_runs_top_to_bottom(exercise, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(ROOT / "solutions" / f"{exercise}.py")
    NotebookClient(nb, timeout=120, allow_errors=False, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") == "stream" for o in outputs), "the demos print their results"
