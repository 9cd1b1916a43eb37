"""Mutation testing of the graders: small, mechanical changes to the reference's solution code, each
graded like a learner's file (the sandboxed executor, the judge). A grader that passes a mutant has a
blind spot, unless the mutant does exactly what the reference does (an *equivalent* mutant, listed with
a one-line reason in ``tests/mutants/<exercise>.txt`` and reviewed like code).

Operators, applied one at a time inside ``### BEGIN SOLUTION`` regions only:

    arith      + <-> -, * <-> /, ** -> *          compare    < <-> <=, > <-> >=, == <-> !=
    negate     -x -> x                            constant   n -> n + 1, 0 <-> 1, 0.5 -> 1.0, True <-> False
    slice      a[i:j] bounds shifted by one       swap       f(a, b, ...) -> f(b, a, ...)
    drop_call  x.detach() / .float() ... -> x     drop_stmt  optimizer.zero_grad(), model.train(), ... removed
    no_grad    with torch.no_grad(): -> no context    mask   x * mask -> x

Needs a clone of the course (``solutions/``); ``python benchmarks/mutation.py`` prints the figures and a fast
sample runs in the test suite (``tests/test_mutation.py``).
"""

from __future__ import annotations

import ast
import copy
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the clone: this file is in grader/course/
DROPPABLE_CALLS = {"detach", "float", "double", "contiguous", "clone", "squeeze", "item"}
DROPPABLE_STATEMENTS = {"zero_grad", "train", "eval", "step", "backward", "requires_grad_"}
ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}
COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


@dataclass(frozen=True)
class Mutant:
    id: str  # function:line:col:operator, stable while the solution's line does not move
    function: str  # the top-level function or class it changes
    description: str
    source: str  # the whole mutated solution file


def solution_lines(source: str) -> set[int]:
    """Line numbers strictly inside ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` regions."""
    inside, lines = False, set()
    for n, line in enumerate(source.splitlines(), 1):
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside:
            lines.add(n)
    return lines


def _constant_variants(value) -> list:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1] if value not in (0, 1) else [1 - value]
    if isinstance(value, float):
        return [1.0] if value == 0.5 else [value + 1.0] if value != 0.0 else [1.0]
    return []


def _mutations(node: ast.AST) -> list[tuple[str, str, callable]]:
    """(operator, description, apply) for one node; ``apply`` mutates a copy of the node in place."""
    out = []
    if isinstance(node, ast.BinOp) and type(node.op) in ARITH:
        new = ARITH[type(node.op)]
        out.append(("arith", f"{type(node.op).__name__} -> {new.__name__}", lambda n, new=new: setattr(n, "op", new())))
        for side, other in (("right", "left"), ("left", "right")):
            operand = getattr(node, side)
            if isinstance(node.op, ast.Mult) and isinstance(operand, (ast.Name, ast.Subscript)) and "mask" in ast.unparse(operand):
                out.append(("mask", f"drop the mask {ast.unparse(operand)}",
                            lambda n, other=other: ("replace", getattr(n, other))))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        out.append(("negate", "-x -> x", lambda n: ("replace", n.operand)))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
        new = COMPARE[type(node.ops[0])]
        out.append(("compare", f"{type(node.ops[0]).__name__} -> {new.__name__}",
                    lambda n, new=new: setattr(n, "ops", [new()])))
    if isinstance(node, ast.Constant) and not isinstance(node.value, str):
        for v in _constant_variants(node.value):
            out.append(("constant", f"{node.value!r} -> {v!r}", lambda n, v=v: setattr(n, "value", v)))
    if isinstance(node, ast.Call):
        if len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
            out.append(("swap", f"swap the first two arguments of {ast.unparse(node.func)}",
                        lambda n: setattr(n, "args", [n.args[1], n.args[0], *n.args[2:]])))
        if isinstance(node.func, ast.Attribute) and node.func.attr in DROPPABLE_CALLS:
            out.append(("drop_call", f"drop .{node.func.attr}()", lambda n: ("replace", n.func.value)))
    return out


def _statement_mutations(node: ast.stmt) -> list[tuple[str, str, callable]]:
    out = []
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute) \
            and node.value.func.attr in DROPPABLE_STATEMENTS:
        out.append(("drop_stmt", f"drop {ast.unparse(node)}", lambda n: ("replace", ast.Pass())))
    if isinstance(node, ast.With) and any("no_grad" in ast.unparse(i.context_expr) for i in node.items):
        out.append(("no_grad", "drop torch.no_grad()", lambda n: ("replace", ast.If(test=ast.Constant(True),
                                                                                    body=n.body, orelse=[]))))
    return out


def mutants(exercise: str, root: Path = ROOT) -> list[Mutant]:
    """Every mutant of ``solutions/<exercise>.py``, in source order."""
    source = (root / "solutions" / f"{exercise}.py").read_text()
    lines = solution_lines(source)
    tree = ast.parse(source)
    out: list[Mutant] = []
    for top in tree.body:
        if not isinstance(top, (ast.FunctionDef, ast.ClassDef)):
            continue
        for index, node in enumerate(ast.walk(top)):
            if getattr(node, "lineno", None) not in lines:
                continue
            kinds = _mutations(node) + (_statement_mutations(node) if isinstance(node, ast.stmt) else [])
            for k, (operator, description, apply) in enumerate(kinds):
                mutated = copy.deepcopy(tree)
                target_top = next(t for t in mutated.body if getattr(t, "name", None) == top.name)
                # ast.walk order is stable: find the same node in the copy by its walk index
                applier = _WalkApply(index, apply)
                applier.run(target_top)
                text = _render(source, mutated, top.name)
                if text is None or text == source:
                    continue
                out.append(Mutant(f"{top.name}:{node.lineno}:{node.col_offset}:{operator}:{k}", top.name,
                                  f"line {node.lineno}: {description}", text))
    return out


class _WalkApply:
    """Apply a mutation to the ``index``-th node of ``ast.walk(top)`` (replacing it in its parent if asked)."""

    def __init__(self, index: int, apply):
        self.index, self.apply = index, apply

    def run(self, top: ast.AST) -> None:
        nodes = list(ast.walk(top))
        node = nodes[self.index]
        result = self.apply(node)
        if isinstance(result, tuple) and result[0] == "replace":
            for parent in nodes:
                for field, value in ast.iter_fields(parent):
                    if value is node:
                        setattr(parent, field, result[1])
                        return
                    if isinstance(value, list) and any(v is node for v in value):
                        setattr(parent, field, [result[1] if v is node else v for v in value])
                        return


def _render(source: str, tree: ast.Module, name: str) -> str | None:
    """The solution file with only the mutated top-level definition re-rendered (the rest kept verbatim)."""
    original = ast.parse(source)
    old = next(t for t in original.body if getattr(t, "name", None) == name)
    new = next(t for t in tree.body if getattr(t, "name", None) == name)
    try:
        text = ast.unparse(ast.fix_missing_locations(new))
        compile(text, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return None
    if text == ast.unparse(old):
        return None
    lines = source.splitlines(keepends=True)
    start = (old.decorator_list[0].lineno if old.decorator_list else old.lineno) - 1
    return "".join(lines[:start]) + text + "\n" + "".join(lines[old.end_lineno:])


def equivalents(exercise: str, root: Path = ROOT) -> dict[str, str]:
    """Mutant id -> why it is equivalent, from ``tests/mutants/<exercise>.txt`` (``id: reason`` lines)."""
    path = root / "tests" / "mutants" / f"{exercise}.txt"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            mutant_id, _, reason = line.partition(" ")
            out[mutant_id.rstrip(":")] = reason.strip()
    return out


@dataclass
class Result:
    mutant: Mutant
    killed: bool
    by: str  # the first check that failed, and how
    named: list[tuple[str, str]] = field(default_factory=list)  # (check, catalogued mistake) its hints name


def run(exercise: str, chosen: list[Mutant], executor, timeout_scale: float = 1.0) -> list[Result]:
    """Grade each mutant through the warm executor; a mutant is killed when any check of its function fails."""
    from grader.engine import judge
    from grader.engine.supervisor import grade

    checks = judge.load(exercise).checks
    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{exercise}.py"
        for m in chosen:
            path.write_text(m.source)
            involved = {c.name for c in checks if m.function in c.functions}
            report = grade([(exercise, str(path))], executor=executor, timeout_scale=timeout_scale, checks=involved)
            failed = [r for r in report.results if r["status"] != "pass"]
            by = f"{failed[0]['check']}: {failed[0]['status']} {re.sub(chr(10), ' ', failed[0]['message'])[:80]}" if failed else ""
            named = [(r["check"], r["mistake"]) for r in failed if r.get("mistake")]
            results.append(Result(m, bool(failed), by, named))
    return results


def misleading(exercise: str, result: Result) -> list[str]:
    """The catalogued hints a mutant got that name a mistake in another function than the one it changed: the
    judge's evidence pointed somewhere the learner's slip is not. (A hint naming a mistake of the mutated function
    may still be imprecise; ``benchmarks/mutation.py --hints`` lists them for review.)"""
    from grader.engine import judge

    catalogue = judge.load(exercise).catalogue
    return [f"{check}: {one} (a mistake in `{catalogue[one]['function']}`)" for check, named in result.named
            for one in named.split("+") if catalogue[one]["function"] != result.mutant.function]
