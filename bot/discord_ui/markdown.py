"""Members' words in the bot's messages, shown as words: no links, mentions or formatting.

Why this module exists: prompts, and provider errors that echo them, are written by members,
and the bot quotes them in public embeds and in the staff audit channel. Read as Discord
markdown, a prompt could put a masked link (``[free nitro](https://…)``) under the bot's name,
mention ``@everyone`` or a role, open a heading, hide text in a spoiler or break out of the
quote it sits in. Every renderer passes member text through :func:`plain` or :func:`excerpt`.

How: a backslash before each character that would start markup (Discord hides the backslash,
so the text reads as typed), a zero-width space inside ``@everyone``/``@here`` and inside
``://`` (no mention, no autolink). discord.py's ``escape_mentions`` does the mentions; its
``escape_markdown`` does not fit: it escapes only the first of two masked links on a line,
keeps ``<https://…>`` links by default, and ``as_needed`` leaves half of ``**bold**`` open.

What it must never do: change how ordinary text reads (``a cat, 4k, (masterpiece)!`` comes out
unchanged), or leave an escape cut in half when shortening. Not for code spans or code blocks,
where backslashes show: member text is never put in one.
"""

from __future__ import annotations

import re
import unicodedata

from discord.utils import escape_mentions

ELLIPSIS = "…"
_ZERO_WIDTH_SPACE = "\u200b"

_BACKSLASH = re.compile(r"\\")
# Bold, italics, underline, strike-through, spoilers, code spans and blocks.
_INLINE = re.compile(r"[*_~|`]")
# An opening bracket of a masked link: some "](" follows it.
_LINK_OPEN = re.compile(r"\[(?=[\s\S]*\]\()")
# <…> without spaces: mentions, channels, commands, timestamps, custom emoji, links.
_ANGLE = re.compile(r"<(?=[^\s<>]+>)")
_URL_SCHEME = re.compile(r"(?<=[A-Za-z0-9+.-]):(?=//)")
# At the start of a line: heading, subtext, list item, numbered item, quote.
_LINE_START = re.compile(r"^([ \t]*)(#|-|>|\+(?=\s)|\d+(?=\.\s))", re.MULTILINE)


def plain(text: str) -> str:
    """``text`` escaped so that Discord shows it as typed and renders none of it as markup."""
    # The member's own backslashes first, so that none of them can undo an escape added below.
    text = _BACKSLASH.sub(r"\\\\", text)
    text = _INLINE.sub(r"\\\g<0>", text)
    text = _LINK_OPEN.sub(r"\\[", text)
    text = _ANGLE.sub(r"\\<", text)
    text = _URL_SCHEME.sub(":" + _ZERO_WIDTH_SPACE, text)
    text = _LINE_START.sub(_escape_line_start, text)
    return escape_mentions(text)


def excerpt(text: str, limit: int, *, one_line: bool = True) -> str:
    """:func:`plain` of ``text``, at most ``limit`` characters: shortened (with an ellipsis)
    before escaping, so that no escape is cut. ``one_line`` joins lines and runs of spaces."""
    if one_line:
        text = " ".join(text.split())
    escaped = plain(text)
    if len(escaped) <= limit:
        return escaped
    # The longest start of the text whose escaped form fits with the ellipsis: escaping only
    # ever adds characters, so the escaped length grows with the length kept.
    low, high = 0, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if len(plain(text[:middle].rstrip())) + len(ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    return plain(_whole_characters(text, low).rstrip()) + ELLIPSIS


def _whole_characters(text: str, end: int) -> str:
    """``text[:end]``, moved back so that no accent or emoji sequence is split."""
    while 0 < end < len(text) and _joins_previous(text[end]):
        end -= 1
    if end > 0 and text[end - 1] == "\u200d":  # a zero-width joiner waiting for its partner
        end -= 1
    return text[:end]


def _joins_previous(char: str) -> bool:
    return (
        unicodedata.combining(char) != 0
        or char in ("\u200d", "\ufe0f", "\ufe0e")
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones
    )


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark = match.group(1), match.group(2)
    if mark.isdigit():  # "1. item": the full stop is what makes the list
        return f"{indent}{mark}\\"
    return f"{indent}\\{mark}"
