"""Cleaning members' free text (bot/prompts.py): what is dropped, what is kept, what is refused."""

from __future__ import annotations

import pytest

from bot.prompts import PromptRefused, clean_text, is_blank, prepare_text

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: one emoji
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
ENGLAND_FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
THUMB_DARK = "\U0001f44d\U0001f3ff"


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("a cat surfing", "a cat surfing"),
        ("  a cat surfing \n", "a cat surfing"),
        # Newlines of every kind become \n; tabs stay.
        ("one\r\ntwo\rthree\u2028four\u2029five\x85six", "one\ntwo\nthree\nfour\nfive\nsix"),
        ("col1\tcol2", "col1\tcol2"),
        ("\x0bvertical\x0cfeed", "vertical\nfeed"),
        # Runs of blank lines collapse to one; trailing spaces on a line go.
        ("shot one   \n\n\n\n  \n\nshot two", "shot one\n\nshot two"),
        # C0 and C1 controls, DEL and escapes are dropped.
        ("a\x00b\x07c\x1b[31md\x7fe\x9bf", "abc[31mdef"),
        # Bidi overrides, embeddings, isolates and marks are dropped.
        ("\u202eevil\u202c text", "evil text"),
        ("a\u202ab\u202bc\u202dd\u2066e\u2067f\u2068g\u2069h\u200ei\u200fj\u061ck", "abcdefghijk"),
        # Other invisible format characters are dropped (they hide words from the blocklist).
        ("b\u200bad w\u2060o\ufeffr\u00add", "bad word"),
        ("\ufeffprompt", "prompt"),
        # ... but ZWJ and ZWNJ inside emoji sequences and words stay.
        (f"a {FAMILY} family", f"a {FAMILY} family"),
        (RAINBOW_FLAG, RAINBOW_FLAG),
        (ENGLAND_FLAG, ENGLAND_FLAG),
        (THUMB_DARK, THUMB_DARK),
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
        ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),
        # A joiner with nothing to join is dropped.
        ("\u200dcat\u200d \u200c", "cat"),
        # Tag characters outside a flag sequence are dropped.
        ("hidden\U000e0041\U000e0042 text", "hidden text"),
        # Lone surrogates cannot be sent as UTF-8.
        ("a\ud800b", "ab"),
        # Exotic spaces inside the text stay; at the edges they go.
        ("\u00a0\u3000a\u00a0cat\u3000", "a\u00a0cat"),
    ],
)
def test_clean_text(raw: str, cleaned: str) -> None:
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\n\n\t",
        "\u00a0\u00a0",
        "\u3000",
        "\u200b\u200b",
        "\u200d",
        "\ufeff",
        "\u202e\u202c",
        "\x00\x01",
        "\u2800\u3164\u115f\u1160\uffa0",  # braille blank, Hangul fillers: render as nothing
        " \u2002\u2003\u2009\u202f\u205f\u1680 ",
    ],
)
def test_blank_text(raw: str) -> None:
    assert is_blank(clean_text(raw))
    with pytest.raises(PromptRefused) as refused:
        prepare_text("prompt", raw, limit=800, required=True)
    assert str(refused.value) == "The prompt is empty: describe what to generate."


def test_a_blank_optional_text_is_left_out() -> None:
    assert prepare_text("negative prompt", " \u200b\n", limit=500, required=False) is None


def test_text_within_the_limit_is_cleaned() -> None:
    assert prepare_text("prompt", "\u202ea cat\u202c", limit=800, required=True) == "a cat"


def test_the_limit_counts_characters_after_cleaning() -> None:
    # 800 letters plus invisible characters: what is sent is 800 characters, within the limit.
    assert prepare_text("prompt", "x" * 800 + "\u200b" * 50, limit=800, required=True) == "x" * 800


def test_ten_thousand_emoji_are_refused_naming_the_limit() -> None:
    with pytest.raises(PromptRefused) as refused:
        prepare_text("prompt", "\U0001f600" * 10_000, limit=800, required=True)
    assert str(refused.value) == (
        "The prompt is too long: 10000 characters; the limit is 800. Each emoji counts as one "
        "character or more."
    )


def test_over_long_text_without_emoji_is_refused_plainly() -> None:
    with pytest.raises(PromptRefused) as refused:
        prepare_text("negative prompt", "blurry " * 100, limit=500, required=False)
    assert str(refused.value) == (
        "The negative prompt is too long: 699 characters; the limit is 500."
    )


def test_composed_emoji_count_as_their_code_points() -> None:
    # The catalog, the API documents (JSON Schema maxLength) and pydantic count code points: a
    # family emoji is five characters. Counting alike here means what passes here passes there.
    assert len(prepare_text("prompt", FAMILY * 160, limit=800, required=True) or "") == 800
    with pytest.raises(PromptRefused, match="too long: 805 characters"):
        prepare_text("prompt", FAMILY * 161, limit=800, required=True)
