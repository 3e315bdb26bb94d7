"""Price table and estimates against the reference prices (``docs/providers.md#prices``)."""

from __future__ import annotations

import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import CATALOG, MODEL_IDS, T2V_SIZES, ModelSpec, WanRequest
from bot.config import ProviderName
from bot.pricing import DEFAULT_PRICES, PriceTable, PriceTableError, format_usd

IMG = "https://example.com/first.jpg"

# The README's reference table, written out independently of bot/pricing.py.
REFERENCE = {
    "wan2.6-i2v": {"720P": Decimal("0.10"), "1080P": Decimal("0.15")},
    "wan2.2-i2v-flash": {"480P": Decimal("0.014"), "720P": Decimal("0.028")},
    "wan2.2-t2v-plus": {"480P": Decimal("0.02"), "1080P": Decimal("0.10")},
    "wan2.5-i2i-preview": {"image": Decimal("0.03")},
}


def spec(key: str) -> ModelSpec:
    return next(s for s in CATALOG if s.key == key)


def estimate(key: str, table: PriceTable | None = None, **fields: Any) -> Decimal:
    model = spec(key)
    request = model.parse(fields)
    return (table or PriceTable()).estimate(model.model_id, request)


# ---------------------------------------------------------------------------------------------
# Reference prices and estimates
# ---------------------------------------------------------------------------------------------


def test_default_prices_are_the_reference_table() -> None:
    assert {m: dict(t) for m, t in PriceTable().prices.items()} == REFERENCE
    assert DEFAULT_PRICES == REFERENCE
    for tiers in DEFAULT_PRICES.values():
        for price in tiers.values():
            assert type(price) is Decimal


T2V_480 = ["832*480", "480*832", "624*624"]
T2V_1080 = ["1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"]

ESTIMATES = [
    *[
        pytest.param(
            "mulerouter:wan2.6-i2v",
            {"resolution": r, "duration": d},
            Decimal(e),
            id=f"wan2.6-i2v-{r}-{d}s",
        )
        for r, d, e in [
            ("720P", 5, "0.50"),
            ("720P", 10, "1.00"),
            ("720P", 15, "1.50"),
            ("1080P", 5, "0.75"),
            ("1080P", 10, "1.50"),
            ("1080P", 15, "2.25"),
        ]
    ],
    *[
        pytest.param(key, {"resolution": r}, Decimal(e), id=f"{key}-{r}")
        for key in ("mulerouter:wan2.2-i2v-flash", "vtrix:wan2.2-i2v-flash")
        for r, e in [("480P", "0.070"), ("720P", "0.140")]
    ],
    *[
        pytest.param("mulerouter:wan2.2-t2v-plus", {"size": s}, Decimal("0.10"), id=f"t2v-{s}")
        for s in T2V_480
    ],
    *[
        pytest.param("mulerouter:wan2.2-t2v-plus", {"size": s}, Decimal("0.50"), id=f"t2v-{s}")
        for s in T2V_1080
    ],
    *[
        pytest.param("mulerouter:wan2.5-i2i-preview", {"n": n}, Decimal(e), id=f"i2i-n{n}")
        for n, e in [(1, "0.03"), (2, "0.06"), (3, "0.09"), (4, "0.12")]
    ],
]

BASE = {
    "mulerouter:wan2.6-i2v": {"prompt": "p", "image": IMG},
    "mulerouter:wan2.2-i2v-flash": {"prompt": "p", "image": IMG},
    "vtrix:wan2.2-i2v-flash": {"prompt": "p", "image": IMG},
    "mulerouter:wan2.2-t2v-plus": {"prompt": "p"},
    "mulerouter:wan2.5-i2i-preview": {"prompt": "p", "images": [IMG]},
}


@pytest.mark.parametrize(("key", "fields", "expected"), ESTIMATES)
def test_estimate_equals_the_reference_table(
    key: str, fields: dict[str, Any], expected: Decimal
) -> None:
    result = estimate(key, **BASE[key], **fields)
    assert type(result) is Decimal
    assert result == expected


def test_exact_decimal_digits_of_some_estimates() -> None:
    assert (
        str(
            estimate(
                "mulerouter:wan2.6-i2v",
                **BASE["mulerouter:wan2.6-i2v"],
                resolution="1080P",
                duration=15,
            )
        )
        == "2.25"
    )
    assert (
        str(
            estimate(
                "mulerouter:wan2.2-i2v-flash",
                **BASE["mulerouter:wan2.2-i2v-flash"],
                resolution="480P",
            )
        )
        == "0.070"
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("mulerouter:wan2.6-i2v", Decimal("0.50")),  # 720P, 5 s
        ("mulerouter:wan2.2-i2v-flash", Decimal("0.14")),  # 720P, 5 s
        ("vtrix:wan2.2-i2v-flash", Decimal("0.14")),
        ("mulerouter:wan2.2-t2v-plus", Decimal("0.50")),  # 1920*1080, 5 s
        ("mulerouter:wan2.5-i2i-preview", Decimal("0.03")),
    ],  # n = 1, not upstream's 4
)
def test_estimate_of_a_request_left_at_defaults(key: str, expected: Decimal) -> None:
    assert estimate(key, **BASE[key]) == expected


def _tiers_of(request_type: type[WanRequest], base: dict[str, Any]) -> set[str]:
    """Every price tier a request model can produce, by building each variant."""
    fields = request_type.model_fields
    if "size" in fields and request_type.__name__ == "WanT2VPlusRequest":
        variants = [{"size": s} for s in typing.get_args(fields["size"].annotation)]
    elif "resolution" in fields:
        variants = [{"resolution": r} for r in typing.get_args(fields["resolution"].annotation)]
    else:
        variants = [{"n": n} for n in range(1, 5)]
    return {request_type.parse({**base, **v}).price_tier() for v in variants}


@pytest.mark.parametrize("model", CATALOG, ids=lambda s: s.key)
def test_every_tier_a_model_can_produce_has_a_default_price(model: ModelSpec) -> None:
    tiers = _tiers_of(model.request_type, BASE[model.key])
    assert tiers, "a model must produce at least one price tier"
    assert tiers == set(DEFAULT_PRICES[model.model_id])
    table = PriceTable()
    for tier in tiers:
        assert type(table.unit_price(model.model_id, tier)) is Decimal


def test_price_table_covers_exactly_the_catalog_models() -> None:
    assert set(DEFAULT_PRICES) == set(MODEL_IDS)
    assert {tier for tier, _ in T2V_SIZES.values()} == set(DEFAULT_PRICES["wan2.2-t2v-plus"])


def test_vtrix_and_mulerouter_flash_share_a_price() -> None:
    a = spec("mulerouter:wan2.2-i2v-flash")
    b = spec("vtrix:wan2.2-i2v-flash")
    assert a.provider is ProviderName.MULEROUTER
    assert b.provider is ProviderName.VTRIX
    assert a.model_id == b.model_id


# ---------------------------------------------------------------------------------------------
# TOML overrides
# ---------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_without_a_path_gives_the_defaults() -> None:
    assert {m: dict(t) for m, t in PriceTable.load(None).prices.items()} == REFERENCE


def test_toml_override_strings_floats_and_integers_are_exact(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[prices."wan2.6-i2v"]
720P = 0.1          # TOML float
1080P = "0.2"       # string

[prices."wan2.2-t2v-plus"]
1080P = 1           # integer

[prices."wan2.2-i2v-flash"]
480P = 0.0140000000000000001
""",
    )
    table = PriceTable.load(path)
    assert table.unit_price("wan2.6-i2v", "720P") == Decimal("0.1")
    assert str(table.unit_price("wan2.6-i2v", "720P")) == "0.1"  # not 0.1000000000000000055...
    assert str(table.unit_price("wan2.6-i2v", "1080P")) == "0.2"
    assert table.unit_price("wan2.2-t2v-plus", "1080P") == Decimal(1)
    assert str(table.unit_price("wan2.2-i2v-flash", "480P")) == "0.0140000000000000001"
    for tiers in table.prices.values():
        for price in tiers.values():
            assert type(price) is Decimal
    # Untouched entries keep their defaults.
    assert table.unit_price("wan2.2-t2v-plus", "480P") == Decimal("0.02")
    assert table.unit_price("wan2.5-i2i-preview", "image") == Decimal("0.03")
    assert table.unit_price("wan2.2-i2v-flash", "720P") == Decimal("0.028")


def test_toml_override_changes_estimates(tmp_path: Path) -> None:
    path = write(tmp_path, '[prices."wan2.5-i2i-preview"]\nimage = 0.1\n')
    table = PriceTable.load(path)
    result = estimate(
        "mulerouter:wan2.5-i2i-preview", table, **BASE["mulerouter:wan2.5-i2i-preview"], n=3
    )
    assert result == Decimal("0.3")
    assert str(result) == "0.3"


def test_override_does_not_change_the_defaults(tmp_path: Path) -> None:
    PriceTable.load(write(tmp_path, '[prices."wan2.6-i2v"]\n720P = "9"\n'))
    base = PriceTable()
    changed = base.overlay({"wan2.2-t2v-plus": {"480P": "7"}})
    assert changed.unit_price("wan2.2-t2v-plus", "480P") == Decimal("7")
    assert base.unit_price("wan2.2-t2v-plus", "480P") == Decimal("0.02")  # overlay is a copy
    assert DEFAULT_PRICES == REFERENCE
    assert PriceTable().unit_price("wan2.6-i2v", "720P") == Decimal("0.10")


def test_empty_file_and_zero_price_are_accepted(tmp_path: Path) -> None:
    assert PriceTable.load(write(tmp_path, "")).prices == PriceTable().prices
    table = PriceTable.load(write(tmp_path, '[prices."wan2.6-i2v"]\n720P = 0\n'))
    assert table.unit_price("wan2.6-i2v", "720P") == 0


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        ('[prices."wan9-x2v"]\n720P = 1\n', ["unknown model", "wan9-x2v", "wan2.6-i2v"]),
        ('[prices."wan2.6-i2v"]\n480P = 1\n', ["wan2.6-i2v", "no tier", "480P", "720P, 1080P"]),
        ('[prices."wan2.5-i2i-preview"]\nimages = 1\n', ["no tier", "images", "image"]),
        ('[prices."wan2.6-i2v"]\n720P = -0.1\n', ["wan2.6-i2v 720P", "zero or more"]),
        ('[prices."wan2.6-i2v"]\n720P = "-1"\n', ["wan2.6-i2v 720P", "zero or more"]),
        ('[prices."wan2.6-i2v"]\n720P = true\n', ["wan2.6-i2v 720P", "must be a number"]),
        ('[prices."wan2.6-i2v"]\n720P = "abc"\n', ["wan2.6-i2v 720P", "'abc' is not a number"]),
        ('[prices."wan2.6-i2v"]\n720P = ""\n', ["wan2.6-i2v 720P", "is not a number"]),
        ('[prices."wan2.6-i2v"]\n720P = [1]\n', ["wan2.6-i2v 720P", "must be a number"]),
        ('[prices."wan2.6-i2v"]\n720P = 2026-01-01\n', ["wan2.6-i2v 720P", "must be a number"]),
        ('[prices."wan2.6-i2v"]\n720P = inf\n', ["wan2.6-i2v 720P", "zero or more"]),
        ('[prices."wan2.6-i2v"]\n720P = nan\n', ["wan2.6-i2v 720P", "zero or more"]),
        ('[prices."wan2.6-i2v"]\n720P = "NaN"\n', ["wan2.6-i2v 720P", "zero or more"]),
        ('[prices]\n"wan2.6-i2v" = 3\n', ["wan2.6-i2v", "must be a table of tiers"]),
        ('[prices."wan2.6-i2v"\n', ["not valid TOML"]),
        ("720P = = 1\n", ["not valid TOML"]),
    ],
    ids=[
        "unknown-model",
        "unknown-tier",
        "unknown-tier-image",
        "negative-float",
        "negative-string",
        "bool",
        "non-numeric",
        "empty-string",
        "array",
        "date",
        "inf",
        "nan",
        "nan-string",
        "model-not-a-table",
        "invalid-toml",
        "invalid-toml-2",
    ],
)
def test_bad_price_file_raises_price_table_error(
    tmp_path: Path, toml: str, fragments: list[str]
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(PriceTableError) as info:
        PriceTable.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


def test_missing_file_raises_price_table_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(PriceTableError) as info:
        PriceTable.load(path)
    assert str(path) in str(info.value)
    assert "cannot be read" in str(info.value)


def test_directory_instead_of_file_raises_price_table_error(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot be read"):
        PriceTable.load(tmp_path)


@pytest.mark.parametrize(
    "raw",
    [
        b'[prices."wan2.6-i2v"]\n720P = "\xff"\n',
        '[prices."wan2.6-i2v"]\n720P = "0.1"\n'.encode("utf-16"),
    ],
    ids=["latin1-byte", "utf-16"],
)
def test_non_utf8_file_raises_price_table_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "prices.toml"
    path.write_bytes(raw)
    with pytest.raises(PriceTableError, match="not valid TOML"):
        PriceTable.load(path)


def test_overlay_refuses_python_floats() -> None:
    # Only exact inputs: a float has already lost its decimal digits.
    with pytest.raises(PriceTableError, match="must be a number or a string"):
        PriceTable().overlay({"wan2.6-i2v": {"720P": 0.1}})


def test_overlay_accepts_decimal_int_and_string() -> None:
    table = PriceTable().overlay(
        {
            "wan2.6-i2v": {"720P": Decimal("0.11"), "1080P": 2},
            "wan2.2-i2v-flash": {"480P": " 0.015 "},
        }
    )
    assert table.unit_price("wan2.6-i2v", "720P") == Decimal("0.11")
    assert table.unit_price("wan2.6-i2v", "1080P") == Decimal(2)
    assert table.unit_price("wan2.2-i2v-flash", "480P") == Decimal("0.015")


def test_overlay_names_its_source() -> None:
    with pytest.raises(PriceTableError, match=r"^ops\.toml: unknown model 'x'"):
        PriceTable().overlay({"x": {}}, source="ops.toml")


@pytest.mark.parametrize("toml", ["prices = 3\n", 'prices = "0.10"\n', "prices = [1, 2]\n"])
def test_prices_key_that_is_not_a_table_raises_price_table_error(tmp_path: Path, toml: str) -> None:
    with pytest.raises(PriceTableError, match="prices"):
        PriceTable.load(write(tmp_path, toml))


@pytest.mark.parametrize(
    "toml",
    ['[price."wan2.6-i2v"]\n720P = "9"\n', '["wan2.6-i2v"]\n720P = "9"\n'],
    ids=["typo-price", "missing-prices-prefix"],
)
def test_unknown_top_level_key_raises_price_table_error(tmp_path: Path, toml: str) -> None:
    with pytest.raises(PriceTableError):
        PriceTable.load(write(tmp_path, toml))


# ---------------------------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.14", "$0.14"),
        ("0.140", "$0.14"),
        ("0.014", "$0.014"),
        ("0.070", "$0.07"),
        ("2.25", "$2.25"),
        ("0", "$0.00"),
        ("0.00", "$0.00"),
        ("0.5", "$0.50"),
        ("5", "$5.00"),
        ("1E+2", "$100.00"),
        ("12.3456", "$12.3456"),
        ("0.0001", "$0.0001"),
    ],
)
def test_format_usd(amount: str, shown: str) -> None:
    assert format_usd(Decimal(amount)) == shown


def test_format_usd_of_real_estimates() -> None:
    assert (
        format_usd(estimate("mulerouter:wan2.2-i2v-flash", **BASE["mulerouter:wan2.2-i2v-flash"]))
        == "$0.14"
    )
    assert (
        format_usd(
            estimate("vtrix:wan2.2-i2v-flash", **BASE["vtrix:wan2.2-i2v-flash"], resolution="480P")
        )
        == "$0.07"
    )
    assert (
        format_usd(
            estimate(
                "mulerouter:wan2.6-i2v",
                **BASE["mulerouter:wan2.6-i2v"],
                resolution="1080P",
                duration=15,
            )
        )
        == "$2.25"
    )
