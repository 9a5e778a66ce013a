"""Grafana server-side expressions (``__expr__``) as the boards use them: math and reduce.

Semantics follow Grafana's SSE documentation: a query result is a set of items, each a time
series or a number with labels. ``Reduce`` turns every series into one number. ``Math``
applies an arithmetic expression over ``$refs``; two sets are joined item by item when their
labels are equal or one label set contains the other, and series are joined on timestamps.
Division by zero gives NaN or infinity, as in Go.
"""

from __future__ import annotations

import ast
import math as pymath
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dashboards.frames import TIME, VALUE, Field, Frame

_REF = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")


def _div(a: float, b: float) -> float:
    if b == 0:
        return pymath.nan if a == 0 or a != a else pymath.copysign(pymath.inf, a)
    return a / b


_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _div,
}


@dataclass
class Item:
    labels: dict[str, str]
    # A series (times with values) or, when ``times`` is None, one number in ``values[0]``.
    values: list[float | None]
    times: list[int] | None = None
    name: str = field(default="")

    @property
    def is_number(self) -> bool:
        return self.times is None


def items_from_frames(frames: list[Frame]) -> list[Item]:
    items = []
    for frame in frames:
        if not frame.is_series:
            raise ValueError(f"expression input {frame.name or 'table'!r} is not a time series: "
                             "give the query a date_histogram as its last bucket aggregation")
        value = frame.fields[1]
        items.append(Item(dict(value.labels), list(value.values), list(frame.fields[0].values),
                          frame.name))
    return items


def frames_from_items(items: list[Item]) -> list[Frame]:
    frames = []
    for item in items:
        name = item.name or " ".join(f"{k}={v}" for k, v in sorted(item.labels.items()))
        if item.is_number:
            frames.append(Frame(name, [Field(VALUE, list(item.values), dict(item.labels))]))
        else:
            frames.append(Frame(name, [Field(TIME, list(item.times or [])),
                                       Field(VALUE, list(item.values), dict(item.labels))]))
    return frames


# --- reduce ------------------------------------------------------------------------------

def _nums(values: list[float | None]) -> list[float]:
    return [pymath.nan if v is None else float(v) for v in values]


REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "sum": lambda v: sum(v),
    "mean": lambda v: sum(v) / len(v) if v else pymath.nan,
    "min": lambda v: min(v) if v else pymath.nan,
    "max": lambda v: max(v) if v else pymath.nan,
    "count": lambda v: float(len(v)),
    "last": lambda v: v[-1] if v else pymath.nan,
    "median": lambda v: sorted(v)[len(v) // 2] if v else pymath.nan,
}


def reduce(items: list[Item], reducer: str) -> list[Item]:
    """Each series to one number (strict mode: a NaN anywhere makes the result NaN)."""
    fn = REDUCERS[reducer]
    out = []
    for item in items:
        if item.is_number:
            out.append(item)
            continue
        out.append(Item(dict(item.labels), [fn(_nums(item.values))], None, item.name))
    return out


# --- math --------------------------------------------------------------------------------

def refs(expression: str) -> list[str]:
    return _REF.findall(expression)


def evaluate_math(expression: str, results: dict[str, list[Item]]) -> list[Item]:
    source = _REF.sub(lambda m: f"__ref_{m.group(1)}", expression)
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"math expression {expression!r} is not valid: {exc.msg}") from None
    return _eval(tree, results, expression)


def _eval(node: ast.AST, results: dict[str, list[Item]], expression: str) -> list[Item]:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return [Item({}, [float(node.value)])]
    if isinstance(node, ast.Name) and node.id.startswith("__ref_"):
        ref = node.id.removeprefix("__ref_")
        if ref not in results:
            raise ValueError(f"math expression {expression!r} names ${ref}, which no query "
                             f"of the panel has (refIds: {', '.join(sorted(results))})")
        return results[ref]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _binary(operator.sub, [Item({}, [0.0])], _eval(node.operand, results, expression))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _binary(_OPS[type(node.op)], _eval(node.left, results, expression),
                       _eval(node.right, results, expression))
    raise ValueError(f"math expression {expression!r}: only + - * / over $refs and numbers "
                     "are replayed")


def _matches(a: dict[str, str], b: dict[str, str]) -> bool:
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return all(big.get(k) == v for k, v in small.items())


def _binary(op: Callable[[float, float], float], left: list[Item], right: list[Item]) -> list[Item]:
    out = []
    for a in left:
        for b in right:
            if not _matches(a.labels, b.labels):
                continue
            labels = a.labels if len(a.labels) >= len(b.labels) else b.labels
            name = a.name if len(a.labels) >= len(b.labels) else b.name
            out.append(_combine(op, a, b, dict(labels), name))
    return out


def _apply(op: Callable[[float, float], float], x: float | None, y: float | None) -> float | None:
    if x is None or y is None:
        return None
    return op(x, y)


def _combine(op: Callable[[float, float], float], a: Item, b: Item, labels: dict[str, str],
             name: str) -> Item:
    if a.is_number and b.is_number:
        return Item(labels, [_apply(op, a.values[0], b.values[0])], None, name)
    if a.is_number or b.is_number:
        number, series = (a, b) if a.is_number else (b, a)
        k = number.values[0]
        values = [_apply(op, k, v) if a.is_number else _apply(op, v, k) for v in series.values]
        return Item(labels, values, list(series.times or []), name)
    right = dict(zip(b.times or [], b.values, strict=True))
    times = [t for t in a.times or [] if t in right]
    left = dict(zip(a.times or [], a.values, strict=True))
    return Item(labels, [_apply(op, left[t], right[t]) for t in times], times, name)
