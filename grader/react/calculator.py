"""A calculator a language model may call: arithmetic only, read with ``ast``, never ``eval``.

    calculate("175 / 1.3")      # 134.615384615...
    calculate("-(2 + 3) ** 2")  # -25
    calculate("__import__('os').system('rm -rf ~')")   # CalculatorError: a function call is not allowed

The argument comes from a model, so it is untrusted text. ``eval`` would run any Python in it, and
``eval(text, {"__builtins__": {}})`` is no fix: attribute chains such as ``().__class__.__base__``
reach every class in the process without a single builtin. Even pure arithmetic can hang the process:
``9 ** 9 ** 9`` has about 370 million digits. So the expression is parsed into a syntax tree and walked
here, allowing numbers, ``+ - * / **``, parentheses (they only group, the tree has no node for them)
and unary minus; anything else is refused by name. Sizes are bounded before they are computed.
"""

from __future__ import annotations

import ast
import math
import operator

MAX_CHARS = 200  # longer input is refused before parsing
MAX_MAGNITUDE = 1e100  # no intermediate or final value may be larger in absolute value
MAX_EXPONENT = 100  # |exponent| of ** (with MAX_MAGNITUDE, it keeps every power cheap)

BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.Pow: operator.pow}
NODE_NAMES = {ast.Name: "a name", ast.Attribute: "an attribute", ast.Call: "a function call",
              ast.Subscript: "indexing", ast.Compare: "a comparison", ast.BoolOp: "and/or",
              ast.Lambda: "a lambda", ast.IfExp: "if/else", ast.Mod: "%", ast.FloorDiv: "//",
              ast.BitXor: "^ (use ** for powers)", ast.UAdd: "unary +", ast.Invert: "~", ast.Not: "not",
              ast.List: "a list", ast.Tuple: "a tuple (or a comma)", ast.JoinedStr: "an f-string"}


class CalculatorError(ValueError):
    """The expression is not allowed, not arithmetic, or too large; the message says which, in one line."""


def calculate(expression: str) -> int | float:
    """The value of an arithmetic expression on int and float literals with + - * / ** ( ) and unary minus."""
    if len(expression) > MAX_CHARS:
        raise CalculatorError(f"the expression is longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise CalculatorError(f"not an arithmetic expression: {expression.strip()!r}") from None
    return _value(tree.body)


def format_number(value: int | float) -> str:
    """12 significant digits for floats (0.1 + 0.2 shows as 0.3), ints exactly."""
    return str(value) if isinstance(value, int) else f"{value:.12g}"


def _value(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):  # bool is an int subclass, complex and str are not numbers here
            raise CalculatorError(f"{node.value!r} is not a number")
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            result = BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculatorError("division by zero") from None
        except OverflowError:
            raise CalculatorError(f"the result is larger than {MAX_MAGNITUDE:g}") from None
        if isinstance(result, complex):  # (-8) ** 0.5
            raise CalculatorError("the result is not a real number")
        return _bounded(result)
    what = NODE_NAMES.get(type(node)) or NODE_NAMES.get(type(getattr(node, "op", None))) or type(node).__name__
    raise CalculatorError(f"{what} is not allowed: use numbers, + - * / ** and parentheses only")


def _check_power(base: int | float, exponent: int | float) -> None:
    """Refuse a power whose exponent or result would be too large, before computing it."""
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {format_number(exponent)} is larger than {MAX_EXPONENT}")
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise CalculatorError(f"the result is larger than {MAX_MAGNITUDE:g}")


def _bounded(value: int | float) -> int | float:
    if abs(value) > MAX_MAGNITUDE or not math.isfinite(value):  # the comparison first: exact for any int
        raise CalculatorError(f"the result is larger than {MAX_MAGNITUDE:g}")
    return value
