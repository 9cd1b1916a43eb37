"""Generate the learner stubs in ``exercises/`` from the references in ``solutions/``.

The stripping is nbgrader's own (``ClearSolutions``: each ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
region becomes ``raise NotImplementedError()``) and the round trip is jupytext's, so the graded code is
exactly what an nbgrader student would receive. For the learner working in Jupyter, the stub adds:

- a kernelspec in its header (the ``python3`` kernel: no "Select Kernel" dialog);
- before the imports, ``from grader import check, demo`` and a note on both;
- after each graded function, a cell ``check("<function>")`` that grades it from the live notebook
  (``grader.live``: the course's sandboxed executor and judge, never the kernel);
- each demo cell that needs a function still to be written (or a value a skipped demo computes) under
  ``with demo():``, which says which function is missing instead of stopping the notebook.

None of this reaches nbgrader: its assignments are made from ``solutions/`` (``grader.course.nbgrader_course``).
``rlhf-course stubs`` rewrites ``exercises/``; a test fails when a committed stub drifts from this output.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import jupytext
import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

HEADER = ("# This file is generated from solutions/{id}.py by `rlhf-course stubs`; edit it freely to solve\n"
          "# the exercise (regenerating overwrites it).\n")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
HELPERS_NOTE = (
    "Check each function as soon as you have written it: the cell after it, `check(\"...\")`, grades what you "
    "ran in this notebook as `rlhf-course check {id}` does (your code runs in the course's sandbox, not in "
    "this kernel) and shows the result under the cell. Demo cells run under `with demo():`: one that needs "
    "a function you have not written yet says so, and the rest of the notebook still runs.")
HELPERS = "from grader import check, demo"


def read_solution(path: Path):
    """The reference as a notebook (jupytext percent format, nbgrader cell metadata)."""
    return jupytext.read(path, fmt="py:percent")


def strip(nb):
    """Clear solution regions and hidden tests with nbgrader's own preprocessors."""
    resources: dict = {}
    nb, resources = ClearSolutions(enforce_metadata=True).preprocess(nb, resources)
    nb, resources = ClearHiddenTests(enforce_metadata=True).preprocess(nb, resources)
    return nb


# --- what a demo cell needs -----------------------------------------------------------------------


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _stores(tree: ast.Module) -> set[str]:
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names | {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _defines(source: str) -> list[str]:
    return [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def demo_cells(cells, solution_cells: set[int]) -> set[int]:
    """Indices of the code cells whose top-level statements need a stubbed function: directly, through a
    helper that calls one, or through a value an earlier such cell computes (it is missing when that cell's
    demo was skipped)."""
    needs = {name for i in solution_cells for name in _defines(cells[i].source)}
    wrapped = set()
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or i in solution_cells:
            continue
        tree = ast.parse(cell.source)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _loads(node) & needs:
                needs.add(node.name)
        statements = [n for n in tree.body if not isinstance(
            n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))]
        if any(_loads(n) & needs for n in statements):
            wrapped.add(i)
            needs |= _stores(tree)
    return wrapped


def under_demo(source: str) -> str:
    return "with demo():\n" + textwrap.indent(source, "    ")


# --- the check cells ------------------------------------------------------------------------------


def check_cells(exercise: str, cells) -> dict[int, list[str]]:
    """Cell index -> the graded functions whose ``check`` cell goes after it: after the last function that
    any check of that function calls."""
    from grader.checking import checks_module

    where = {}
    for i, cell in enumerate(cells):
        if cell.cell_type == "code":
            for name in _defines(cell.source):
                where[name] = i
    by_function: dict[str, list] = {}
    for c in checks_module(exercise).CHECKS:
        by_function.setdefault(c.functions[0], []).append(c)
    after: dict[int, list[str]] = {}
    for function, checks in by_function.items():
        needed = [f for c in checks for f in c.functions if f in where]
        if needed:
            after.setdefault(max(where[f] for f in needed), []).append(function)
    return after


def check_cell(exercise: str, function: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(
        f'check("{function}")  # grades your {function} as `rlhf-course check {exercise}` does')


# --- the stub -------------------------------------------------------------------------------------


def learner_notebook(exercise: str, nb):
    """The stripped notebook with the learner's helpers: check cells, demo guards, the helpers' import."""
    solution_cells = {i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")}
    wrapped = demo_cells(nb.cells, solution_cells)
    after = check_cells(exercise, nb.cells)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    cells = []
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("nbgrader", None)  # learners don't need grading metadata; instructors get it from solutions/
        if i in wrapped:
            cell.source = under_demo(cell.source)
        if i == first_code:  # before the imports: the grading service starts while the kernel imports torch
            cells += [nbformat.v4.new_markdown_cell(textwrap.fill(HELPERS_NOTE.format(id=exercise), 104)),
                      nbformat.v4.new_code_cell(HELPERS)]
        cells.append(cell)
        cells += [check_cell(exercise, f) for f in after.get(i, [])]
    nb.cells = cells
    return nb


def stub_text(solution_path: Path) -> str:
    exercise = solution_path.stem
    nb = learner_notebook(exercise, strip(read_solution(solution_path)))
    # A header with the kernelspec only: jupytext's version in it would make the stub drift between installs.
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["jupytext"] = {"notebook_metadata_filter": "kernelspec,-jupytext"}
    text = jupytext.writes(nb, fmt="py:percent")
    end = text.index("# ---\n", len("# ---\n")) + len("# ---\n")  # the header's closing line
    return text[:end] + "\n" + HEADER.format(id=exercise) + text[end:]


def write_stubs(root: Path, ids: list[str]) -> list[Path]:
    written = []
    for exercise in ids:
        target = root / "exercises" / f"{exercise}.py"
        target.write_text(stub_text(root / "solutions" / f"{exercise}.py"), encoding="utf-8")
        written.append(target)
    return written
