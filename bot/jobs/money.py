"""Money at the storage boundary: Decimal dollars in the code, integer micro-dollars in SQL.

Why this module exists: SQLite has no decimal type and its ``SUM`` over REAL is inexact, so the
store keeps integer micro-dollars (exact sums, exact comparisons in one ``BEGIN IMMEDIATE``
transaction) and everything above it sees :class:`~decimal.Decimal` only.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_USD = 1_000_000


def to_micros(amount: Decimal) -> int:
    """USD to integer micro-dollars, rounding half up below a millionth of a dollar."""
    return int((amount * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_micros(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_USD
