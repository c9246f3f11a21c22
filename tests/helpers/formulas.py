"""Evaluate a lesson formula ('params = (3·3·128 + 1)·256 = 295,168') exactly, part by part."""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _eval(node: ast.AST) -> Fraction | tuple:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return Fraction(node.value)
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b}
        return ops[type(node.op)]()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "floor":
        return Fraction(math.floor(_eval(node.args[0])))
    raise ValueError(f"not arithmetic: {ast.dump(node)}")


def value(expr: str) -> Fraction | tuple:
    """One side: '·' and '−' are * and -, thousands commas go, '256×56×56' is a shape (a tuple)."""
    s = _THOUSANDS.sub("", expr.strip()).replace("·", "*").replace("−", "-")
    if "×" in s:
        s = "(" + s.replace("×", ",") + ",)"
    return _eval(ast.parse(s, mode="eval"))


def parse(formula: str) -> tuple[str, list[Fraction | tuple]]:
    """'label = e1 = e2 = n' -> (label, [value(e1), value(e2), value(n)])."""
    label, *parts = formula.split(" = ")
    if not parts:
        raise ValueError(f"no '=' in {formula!r}")
    return label.strip(), [value(p) for p in parts]
