"""The condition language of playbooks (`where`, `used_when`): a small expression language,
parsed with `ast` and compiled to polars, never evaluated as Python.

Column names, string / number / boolean literals, `== != < <= > >=` (chains allowed), `in` /
`not in` a literal list or a plan group of `product.yaml` (`paid_plans`, `unpaid_plans`,
`premium_plans`, `csm_plans`, `review_plans`: `plan in premium_plans` holds for no plan when
none is premium), `is None` / `is not None`, `and`, `or`, `not`, parentheses, and
`age_days(column)`: days from a timestamp column to the row's as-of instant. A missing value
never matches (`tier != 'healthy'` is false when tier is null).
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from functools import reduce
from itertools import pairwise

import polars as pl

from cs_assets.contract.product import PLAN_GROUPS, PRODUCT
from cs_assets.vocabulary import UTC_TS


class ConditionError(ValueError):
    """A `where` expression outside the language or naming an unknown column."""


_COMPARISONS = {
    ast.Eq: pl.Expr.__eq__,
    ast.NotEq: pl.Expr.__ne__,
    ast.Lt: pl.Expr.__lt__,
    ast.LtE: pl.Expr.__le__,
    ast.Gt: pl.Expr.__gt__,
    ast.GtE: pl.Expr.__ge__,
}


def compile_condition(text: str, columns: Collection[str]) -> pl.Expr:
    """`text` as a boolean polars expression over `columns`; null results are false."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse {text!r}: {exc.msg}") from None
    return _Compiler(frozenset(columns)).boolean(tree.body).fill_null(False)


def requires(text: str | None, clause: str) -> bool:
    """Whether the condition `text` holds only where `clause` does: the clause is the whole
    condition or one operand of its top-level `and` (`text` compiled before)."""
    if text is None:
        return False
    body = ast.parse(text, mode="eval").body
    conjunction = isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And)
    parts = body.values if conjunction else [body]
    wanted = ast.dump(ast.parse(clause, mode="eval").body)
    return any(ast.dump(part) == wanted for part in parts)


class _Compiler:
    def __init__(self, columns: frozenset[str]) -> None:
        self.columns = columns

    def boolean(self, node: ast.expr) -> pl.Expr:
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(value) for value in node.values]
            return reduce(pl.Expr.and_ if isinstance(node.op, ast.And) else pl.Expr.or_, parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.boolean(node.operand)
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            return reduce(
                pl.Expr.and_,
                [
                    self.compare(op, left, right)
                    for op, (left, right) in zip(node.ops, pairwise(operands), strict=True)
                ],
            )
        raise ConditionError(f"expected a comparison, `and`, `or` or `not`: {ast.unparse(node)}")

    def compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> pl.Expr:
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise ConditionError("`is` / `is not` only compare with None")
            value = self.value(left)
            return value.is_null() if isinstance(op, ast.Is) else value.is_not_null()
        if isinstance(op, ast.In | ast.NotIn):
            if isinstance(right, ast.Name) and right.id in PLAN_GROUPS:
                values = pl.Series(PRODUCT.plan_group(right.id), dtype=pl.String)
            elif isinstance(right, ast.List | ast.Tuple):
                values = [self.literal(item) for item in right.elts]
            else:
                raise ConditionError(f"`in` needs a literal list or one of {PLAN_GROUPS}: "
                                     f"{ast.unparse(right)}")
            member = self.value(left).is_in(values)
            return member if isinstance(op, ast.In) else ~member
        return _COMPARISONS[type(op)](self.value(left), self.value(right))

    def value(self, node: ast.expr) -> pl.Expr:
        if isinstance(node, ast.Name):
            return pl.col(self.column(node))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "age_days"
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Name)
        ):
            as_of = pl.col("as_of").cast(UTC_TS)
            return (as_of - pl.col(self.column(node.args[0]))).dt.total_seconds(
                fractional=True
            ) / 86_400
        return pl.lit(self.literal(node))

    def column(self, node: ast.Name) -> str:
        if node.id not in self.columns:
            raise ConditionError(
                f"unknown column {node.id!r}; known: {', '.join(sorted(self.columns))}"
            )
        return node.id

    @staticmethod
    def literal(node: ast.expr) -> str | int | float | bool:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = _Compiler.literal(node.operand)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return -value
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
            return node.value
        raise ConditionError(
            f"expected a column, age_days(column) or a literal: {ast.unparse(node)}"
        )
