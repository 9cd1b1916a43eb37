"""The exercise as a notebook: the stub runs top to bottom in a real kernel (its demos say what is missing),
its `check(...)` cells grade the live notebook through the grading service (the sandboxed executor and the
judge, outside the kernel) and show the outcome under the cell; JupyterLab opens the .py as a notebook."""

import json
import os
import subprocess
import sys

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from grader import lab
from grader.checking import checks_module
from grader.exercises import EXERCISES
from grader.live import CheckReport, resolve
from tests.reference import ROOT

WRONG_SEQUENCE_LOGPS = '''
def sequence_logps(logits, input_ids, response_mask):
    token_logps = torch.log_softmax(logits[:, :-1], -1).gather(-1, input_ids[:, 1:, None])[..., 0]
    return (token_logps * response_mask[:, 1:]).mean(-1)  # a mean, not a sum
'''
WHERE_IT_RUNS = '''
def dpo_loss(*args, **kwargs):
    import os
    raise RuntimeError(f"pid={os.getpid()} sandbox={os.path.isdir('/submission')}")
'''


def outputs(cell) -> str:
    """Everything a cell shows, as text (plain text and HTML both)."""
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", "") + o.get("data", {}).get("text/plain", "") + o.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


def test_the_stub_runs_through_and_its_check_cells_grade_the_live_notebook(monkeypatch):
    from grader.engine.sandbox import available

    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(ROOT / "exercises" / "dpo.py")
    assert nb.metadata["kernelspec"]["name"] == "python3"  # no "Select Kernel" dialog
    stub_cells = len(nb.cells)
    solution = jupytext.read(ROOT / "solutions" / "dpo.py")
    nb.cells += [nbformat.v4.new_code_cell(c.source) for c in solution.cells
                 if c.metadata.get("nbgrader", {}).get("solution")]  # the learner writes every function
    extra = ['check("dpo")', WRONG_SEQUENCE_LOGPS, 'check("sequence_logps")', WHERE_IT_RUNS,
             'check("dpo_loss_variants")', "import os; print('kernel', os.getpid())"]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in extra]
    NotebookClient(nb, timeout=180, allow_errors=False, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "exercises")}}).execute()  # no cell raises
    code = [c for c in nb.cells[:stub_cells] if c.cell_type == "code"]
    stub = [outputs(c) for c in code]
    checks = [outputs(c) for c in code if c.source.startswith("check(")]
    assert len(checks) == 3 and all("TODO" in t and "not implemented yet" in t for t in checks)
    assert any("demo skipped: `sequence_logps` is not implemented yet" in t for t in stub)
    assert any("demo skipped: `dpo_step` is not implemented yet" in t for t in stub)

    passed, failed, where, kernel = (outputs(nb.cells[i]) for i in (-6, -4, -2, -1))
    assert passed.count("PASS") >= 8 and "FAIL" not in passed  # every check, in text and in HTML
    assert "FAIL" in failed and "off by the same factor, 0.125" in failed and "<div" in failed
    kernel_pid = int(kernel.split()[-1])
    pid = int(where.split("pid=")[1].split()[0])
    assert pid != kernel_pid  # the learner's code ran in the executor, not in the kernel
    assert f"sandbox={available()[0]}" in where


def test_check_names_a_function_a_check_or_an_exercise():
    assert resolve("dpo_loss") == ("dpo", ["dpo_loss", "dpo_loss_variants"])
    assert resolve("dpo_loss_variants") == ("dpo", ["dpo_loss_variants"])
    assert resolve("dpo")[1] == [c.name for c in checks_module("dpo").CHECKS]
    assert resolve(None, defined={"dpo_loss", "sequence_logps", "print"})[0] == "dpo"
    with pytest.raises(ValueError, match="did you mean 'dpo_loss'"):
        resolve("dpo_los")
    report = CheckReport("dpo", [{"exercise": "dpo", "check": "dpo_loss", "status": "pass", "points": 3,
                                  "max_points": 3}])
    assert report.passed and "PASS" in repr(report) and "3/3 points" in report._repr_html_()
    assert not CheckReport("dpo", error="the grading service stopped")


@pytest.mark.parametrize("exercise", [e.id for e in EXERCISES])
def test_every_graded_function_has_a_check_cell_and_the_stub_a_kernel(exercise):
    nb = jupytext.read(ROOT / "exercises" / f"{exercise}.py")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    for function in {c.functions[0] for c in checks_module(exercise).CHECKS}:
        assert any(s.startswith(f'check("{function}")') for s in sources), function
    assert "from grader import check, demo" in sources


def test_jupyterlab_started_by_the_course_opens_py_files_as_notebooks():
    code = ("import json; from jupyterlab_server.settings_utils import _get_overrides; "
            "print(json.dumps(_get_overrides('/nonexistent')[0]))")
    env = lab.environment({k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    viewers = json.loads(out)["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"
    assert lab.command(["exercises/dpo.py"])[1:] == ["-m", "jupyterlab", "exercises/dpo.py"]


def test_demo_skips_only_a_stubs_bare_not_implemented(capsys):
    import ast

    from grader.learner import skipped_names
    from grader.live import demo

    def stub():
        raise NotImplementedError()

    with demo():
        stub()
    assert "stub` is not implemented yet" in capsys.readouterr().out  # its qualified name on Python 3.11+
    with pytest.raises(NotImplementedError, match="not on MPS"), demo():
        raise NotImplementedError("not on MPS")
    # A value a demo computes is still named when a function the grader runs uses it (the grader skips demos).
    assert "device" in skipped_names(ast.parse("with demo():\n    model, device = load()\n"))
