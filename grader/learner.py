"""Load a learner's functions from a jupytext ``.py`` file or an ``.ipynb`` notebook.

Only the *definitions* run: imports, functions, classes and constant assignments. Demo cells
(training runs, prints, plots) are skipped, so a slow or unfinished demo cannot stall grading, and
a stub whose demo calls an unimplemented function still loads.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_CONSTANT_NODES = (ast.Constant, ast.Name, ast.Attribute, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List,
                   ast.Dict, ast.Set, ast.operator, ast.unaryop, ast.Load, ast.Store, ast.keyword)


class LoadError(Exception):
    """The file cannot be read as Python; the message says where and why."""


def _is_constant_assignment(node: ast.stmt) -> bool:
    if isinstance(node, ast.AnnAssign):
        value = node.value
    elif isinstance(node, ast.Assign):
        value = node.value
    else:
        return False
    return value is not None and all(isinstance(n, _CONSTANT_NODES) for n in ast.walk(value))


SKIPPED_NAMES = "__grader_skipped_names__"  # names assigned only by statements the grader does not run


def keep_definitions(tree: ast.Module) -> ast.Module:
    body = [n for n in tree.body if isinstance(n, _DEFINITIONS) or _is_constant_assignment(n)]
    return ast.Module(body=body, type_ignores=[])


def skipped_names(tree: ast.Module) -> set[str]:
    """Names bound by top-level assignments that ``keep_definitions`` drops (those inside a top-level
    ``with`` block too: a stub's demo cells run under ``with demo():``)."""
    names = set()
    for node in _top_level(tree.body):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and not _is_constant_assignment(node):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _top_level(body: list[ast.stmt]):
    for node in body:
        yield node
        if isinstance(node, ast.With):
            yield from _top_level(node.body)


def defined_names(path: str | Path) -> set[str] | None:
    """The functions and classes ``path`` defines at top level, read without running it; None when no
    cell parses (the grader then reports the syntax error)."""
    try:
        cells = code_cells(Path(path))
    except (LoadError, OSError, UnicodeDecodeError):
        return None
    names, parsed = set(), False
    for _, source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        parsed = True
        names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names if parsed else None


def code_cells(path: Path) -> list[tuple[str, str]]:
    """``(label, source)`` pairs; the label is used as the filename in tracebacks."""
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = nb["cells"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise LoadError(f"{path} is not a readable notebook: {exc}") from None
        out = []
        for i, cell in enumerate(cells, 1):
            if cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            # IPython magics and shell escapes are not Python; they never define anything graded.
            src = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
            out.append((f"{path} [cell {i}]", src))
        return out
    if path.suffix == ".py":
        return [(str(path), path.read_text(encoding="utf-8"))]
    raise LoadError(f"{path}: expected a .py (jupytext) or .ipynb file")


CELL_ERRORS = "__grader_cell_errors__"  # notebook cells that did not run, and why


def load_namespace(path: str | Path) -> dict:
    """Execute the definitions in ``path`` and return the resulting globals.

    A ``.py`` file is one unit: any error stops the load (``LoadError``). A notebook's cells are units of
    their own, as in Jupyter: a cell with a syntax error, or one that raises while defining, is skipped
    and recorded under ``CELL_ERRORS``, and the other cells still define their functions."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path} does not exist")
    ns: dict = {"__name__": "learner_module", "__file__": str(path), SKIPPED_NAMES: set(), CELL_ERRORS: []}
    cells = code_cells(path)
    for label, source in cells:
        try:
            tree = ast.parse(source, filename=label)
            ns[SKIPPED_NAMES] |= skipped_names(tree)
            code = compile(keep_definitions(tree), label, "exec")
        except SyntaxError as exc:
            error = f"syntax error in {label}, line {exc.lineno}: {exc.msg}\n    {(exc.text or '').rstrip()}"
            if path.suffix != ".ipynb":
                raise LoadError(error) from None
            ns[CELL_ERRORS].append(error)
            continue
        try:
            exec(code, ns)  # noqa: S102 - running learner code is the point
        except Exception as exc:  # noqa: BLE001
            error = f"{label} failed while defining functions: {type(exc).__name__}: {exc}"
            if path.suffix != ".ipynb":
                raise LoadError(error) from None
            ns[CELL_ERRORS].append(error)
    return ns
