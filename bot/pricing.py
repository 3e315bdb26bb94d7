"""Prices and cost estimates, all in :class:`~decimal.Decimal` US dollars.

Why this module exists: MuleRouter reports no cost at all, so the ledger and every budget check
rest on an estimate made before submission. The reference prices (each model's catalog
entry, ``docs/providers.md#prices``) are the defaults; an operator overrides them with a TOML
file when their contract differs::

    [prices."wan2.6-i2v"]
    720P = "0.10"      # strings or TOML floats; both are read as exact decimals
    1080P = 0.15

What it must never do: touch a float. TOML floats are parsed straight to ``Decimal``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.catalog import CATALOG, WanRequest

# The reference prices, from each model's catalog entry (one model may have several
# providers; they share its price).
DEFAULT_PRICES: dict[str, dict[str, Decimal]] = {
    spec.model_id: dict(spec.reference_prices) for spec in CATALOG
}


class PriceTableError(ValueError):
    """The price file is unreadable or names something the catalog does not have."""


@dataclass(frozen=True)
class PriceTable:
    """Unit prices per model id and tier (``720P``, ``1080P``, ``image``…)."""

    prices: Mapping[str, Mapping[str, Decimal]] = field(
        default_factory=lambda: {model: dict(tiers) for model, tiers in DEFAULT_PRICES.items()}
    )

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """Defaults, overlaid with ``path`` when one is given."""
        table = cls()
        if path is None:
            return table
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle, parse_float=Decimal)
        except OSError as exc:
            raise PriceTableError(f"price table {path} cannot be read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PriceTableError(f"price table {path} is not valid TOML (UTF-8): {exc}") from None
        unknown = sorted(set(data) - {"prices"})
        if unknown:
            raise PriceTableError(
                f"{path}: unknown top-level key(s) {', '.join(unknown)}; "
                'write prices as [prices."<model>"] tables'
            )
        prices = data.get("prices", {})
        if not isinstance(prices, dict):
            raise PriceTableError(f"{path}: prices must be a table of models")
        return table.overlay(prices, source=str(path))

    def overlay(self, overrides: Mapping[str, object], *, source: str = "overrides") -> PriceTable:
        merged = {model: dict(tiers) for model, tiers in self.prices.items()}
        for model, tiers in overrides.items():
            if model not in merged:
                raise PriceTableError(
                    f"{source}: unknown model {model!r}; known: {', '.join(merged)}"
                )
            if not isinstance(tiers, Mapping):
                raise PriceTableError(f"{source}: [prices.{model!r}] must be a table of tiers")
            for tier, raw in tiers.items():
                if tier not in merged[model]:
                    raise PriceTableError(
                        f"{source}: {model} has no tier {tier!r}; known: {', '.join(merged[model])}"
                    )
                merged[model][tier] = _price(raw, f"{source}: {model} {tier}")
        return PriceTable(merged)

    def unit_price(self, model_id: str, tier: str) -> Decimal:
        return self.prices[model_id][tier]

    def estimate(self, model_id: str, request: WanRequest) -> Decimal:
        """What ``request`` should cost: unit price of its tier times its billable units."""
        return self.unit_price(model_id, request.price_tier()) * request.billable_units()


def _price(raw: object, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise PriceTableError(f'{where}: price must be a number or a string like "0.10"')
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise PriceTableError(f"{where}: {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise PriceTableError(f"{where}: price must be zero or more")
    return value


def format_usd(amount: Decimal) -> str:
    """``$0.14`` for display; sub-cent amounts keep their digits (``$0.014``)."""
    normalised = amount.normalize()
    exponent = normalised.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"${amount:.{places}f}"
