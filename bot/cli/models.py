"""``python -m bot models``: the catalog as a member or operator reads it.

Why this module exists: options, limits and prices in one printout, generated from the same
declarations the bot validates against, so the listing is never out of date.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot.catalog import CATALOG, ModelSpec
from bot.cli.options import describe_options
from bot.config import ConfigError, load_settings
from bot.pricing import PriceTable, PriceTableError, format_usd


def add_models_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the models with their options, limits and prices",
        description="List every model endpoint with its options, limits and prices "
        "(prices from WANBOT_PRICE_TABLE when set).",
    )
    parser.set_defaults(handler=run_models)


def run_models(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        prices = PriceTable.load(settings.price_table)
    except (ConfigError, PriceTableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_catalog(prices, sys.stdout, flash_provider=settings.i2v_flash_provider.value)
    return 0


def print_catalog(prices: PriceTable, out: TextIO, *, flash_provider: str) -> None:
    for spec in CATALOG:
        serving = ""
        if spec.model_id == "wan2.2-i2v-flash":
            active = spec.provider == flash_provider
            serving = " (serving)" if active else " (set WAN_I2V_FLASH_PROVIDER to use)"
        print(f"{spec.model_id} via {spec.provider}{serving}: {spec.title}", file=out)
        print(f"  {spec.summary}", file=out)
        print(f"  result: {spec.result_kind.value}; price: {_prices(spec, prices)}", file=out)
        if spec.image_bounds:
            bounds = spec.image_bounds
            print(
                f"  input images: JPEG/PNG/BMP/WEBP, {bounds.min_side}-{bounds.max_side} px "
                "per side, up to 10 MB (fixed where possible)",
                file=out,
            )
        for option in describe_options(spec.request_type):
            print(f"    {option.flag:<20} {option.limits()}", file=out)
        print(file=out)


def _prices(spec: ModelSpec, prices: PriceTable) -> str:
    unit = spec.price_unit.value
    return ", ".join(
        f"{format_usd(price)}/{unit}" + ("" if tier == unit else f" at {tier}")
        for tier, price in prices.prices[spec.model_id].items()
    )
