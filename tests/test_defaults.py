"""A server's option defaults (bot.defaults): which options, checked values, filling, pricing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.catalog import spec_for
from bot.config import ProviderName
from bot.defaults import (
    DefaultRefused,
    at_defaults,
    built_in,
    defaultable,
    describe,
    estimate,
    fill,
    parse_default,
)
from bot.pricing import PriceTable

MULE, VTRIX = ProviderName.MULEROUTER, ProviderName.VTRIX
T2V = spec_for("wan2.2-t2v-plus", MULE)
I2V = spec_for("wan2.6-i2v", MULE)
FLASH = spec_for("wan2.2-i2v-flash", MULE)
FLASH_VTRIX = spec_for("wan2.2-i2v-flash", VTRIX)
I2I = spec_for("wan2.5-i2i-preview", MULE)
PRICES = PriceTable.load(None)


def test_each_model_offers_the_options_it_has_with_a_choice() -> None:
    assert defaultable(T2V) == ("size", "prompt_extend")  # its duration is always 5 s
    assert defaultable(I2V) == (
        "resolution",
        "duration",
        "prompt_extend",
        "shot_type",
        "safety_filter",
    )
    assert defaultable(FLASH) == ("resolution", "prompt_extend", "safety_filter")
    assert defaultable(FLASH_VTRIX) == ("resolution", "prompt_extend")  # no safety switch there
    assert defaultable(I2I) == ("size", "n", "prompt_extend", "safety_filter")


def test_the_built_in_defaults_are_the_cheaper_tiers() -> None:
    assert built_in(T2V, "size") == "832*480"  # 480P: $0.10 a video, not 1080P's $0.50
    assert built_in(FLASH, "resolution") == "480P"
    assert built_in(FLASH_VTRIX, "resolution") == "480P"
    assert built_in(I2V, "resolution") == "720P"  # its cheapest
    assert built_in(I2I, "n") == 1
    assert estimate(PRICES, T2V, {}) == Decimal("0.10")
    assert estimate(PRICES, FLASH, {}) == Decimal("0.070")


@pytest.mark.parametrize(
    ("spec", "option", "text", "value"),
    [
        (T2V, "size", "1920*1080", "1920*1080"),
        (T2V, "prompt_extend", "off", False),
        (I2V, "duration", "10", 10),
        (I2V, "resolution", " 1080P ", "1080P"),
        (I2V, "shot_type", "multi", "multi"),
        (I2I, "size", "1024*1024", "1024*1024"),
        (I2I, "n", "3", 3),
        (I2I, "safety_filter", "On", True),
    ],
)
def test_a_default_is_read_as_the_request_reads_it(
    spec: object, option: str, text: str, value: object
) -> None:
    assert parse_default(spec, option, text) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "option", "text", "message"),
    [
        (T2V, "size", "1*1", "'1*1' isn't a size of wan2.2-t2v-plus: use one of 832*480, "),
        (T2V, "resolution", "720P", "wan2.2-t2v-plus has no default for resolution; it has: "),
        (I2V, "duration", "7", "'7' isn't a duration of wan2.6-i2v: use one of 5, 10, 15."),
        (I2I, "n", "9", "'9' isn't a number of images of wan2.5-i2i-preview: use one of 1, 2,"),
        (I2I, "size", "10*10", "'10*10' isn't a size of wan2.5-i2i-preview: use width*height"),
        (I2I, "prompt_extend", "maybe", "prompt extend is on or off."),
        (FLASH_VTRIX, "safety_filter", "on", "wan2.2-i2v-flash has no default for safety_filter"),
    ],
)
def test_a_default_the_request_would_refuse_is_refused_saying_what_to_use(
    spec: object, option: str, text: str, message: str
) -> None:
    with pytest.raises(DefaultRefused) as refused:
        parse_default(spec, option, text)  # type: ignore[arg-type]
    assert str(refused.value).startswith(message), str(refused.value)


def test_only_options_the_member_left_out_are_filled() -> None:
    server = {"size": "1920*1080", "prompt_extend": False}
    assert fill(T2V, {"prompt": "a fox"}, server) == {
        "prompt": "a fox",
        "size": "1920*1080",
        "prompt_extend": False,
    }
    assert fill(T2V, {"prompt": "a fox", "size": "624*624"}, server)["size"] == "624*624"
    # A default for an option this provider lacks is never filled in.
    assert "safety_filter" not in fill(FLASH_VTRIX, {"prompt": "x"}, {"safety_filter": False})


def test_the_usual_price_is_the_price_at_the_server_s_defaults_whatever_was_chosen() -> None:
    chosen = {"prompt": "x", "resolution": "1080P", "duration": 10}
    assert estimate(PRICES, I2V, chosen) == Decimal("1.50")
    assert estimate(PRICES, I2V, at_defaults(I2V, chosen, {})) == Decimal("0.50")
    assert estimate(PRICES, I2V, at_defaults(I2V, chosen, {"duration": 15})) == Decimal("1.50")
    assert describe({"prompt_extend": False, "size": "1920*1080"}) == (
        "size 1920*1080, prompt extend off"
    )
    assert describe({}) == "none"
