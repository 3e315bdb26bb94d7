"""Members' text as the bot shows it: hostile prompts come out inert, ordinary ones untouched."""

from __future__ import annotations

import pytest

from bot.discord_ui.markdown import excerpt, plain
from tests.discord_ui.markup import active_markup, visible

HOSTILE = [
    "[free nitro](https://evil.example/claim)",
    "[a](https://one.example) and [b](https://two.example)",
    "[click](<https://evil.example>)",
    "see <https://evil.example/x> now",
    "https://evil.example/bare",
    "# Big heading",
    "### smaller heading",
    "-# subtext",
    "> quoted",
    ">>> quoted to the end",
    "- a list",
    "* a list",
    "+ a list",
    "1. a numbered list",
    "||spoiler||",
    "**bold** and __underline__ and ~~struck~~ and *italic* and _italic_",
    "`code` and ```block```",
    "@everyone look",
    "hey @here",
    "<@123456789012345678> and <@!123456789012345678> and <@&123456789012345678>",
    "<#123456789012345678> </wan-t2v:123456789012345678>",
    "<t:1800000000:R>",
    "<:blob:123456789012345678> <a:dance:123456789012345678>",
    "\\[escaped](https://evil.example) by the member",
    "\\<@123456789012345678>",
    "a \\ backslash, \\\\ two, and \\*",
    "line one\n# heading on line two\n> quote on line three",
]

ORDINARY = [
    "a cat, 4k, (masterpiece)!",
    "a cat surfing a wave at sunset",
    "portrait: soft light; 85mm lens? yes & no — 50% off",
    "(best quality:1.2), dog, 'quoted' \"double\" {braces}",
    "café au lait 🐱, Ελληνικά, 日本語のテキスト",
    "2 + 2 = 4, a < b, c > d",
    "email me at cat@example.com",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_inert_and_reads_as_typed(text: str) -> None:
    shown = plain(text)
    assert active_markup(shown) == []
    assert visible(shown) == text


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert plain(text) == text


def test_a_quoted_excerpt_cannot_open_a_heading_inside_the_quote() -> None:
    # The embeds quote the prompt ("> " + excerpt): the excerpt starts a line of its own.
    assert active_markup(excerpt("# hi", 300)) == []
    assert active_markup(excerpt("- hi", 300)) == []


def test_excerpt_joins_lines_and_keeps_short_text_whole() -> None:
    assert excerpt("a cat\n\n  surfing  ", 300) == "a cat surfing"


def test_excerpt_fits_the_limit_after_escaping() -> None:
    text = "*" * 2000
    shortened = excerpt(text, 300)
    assert len(shortened) <= 300
    assert shortened.endswith("…")
    assert active_markup(shortened) == []
    assert visible(shortened) == "*" * (len(visible(shortened)) - 1) + "…"


@pytest.mark.parametrize("limit", range(20, 60))
def test_excerpt_never_cuts_an_escape_in_half(limit: int) -> None:
    text = "[x](https://evil.example) @everyone <@123456789012345678> \\ **b** " * 3
    shortened = excerpt(text, limit)
    assert len(shortened) <= limit
    assert active_markup(shortened) == []
    # What shows is the start of what the member wrote, then the ellipsis.
    assert shortened.endswith("…")
    assert text.startswith(visible(shortened)[:-1].rstrip())


def test_excerpt_can_keep_lines() -> None:
    assert excerpt("one\n# two", 100, one_line=False) == "one\n\\# two"
