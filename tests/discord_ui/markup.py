"""How Discord would read a piece of message or embed text, for tests: what shows, what is live.

Why this module exists: the bot's escaping is checked against an independent reading of
Discord's markdown rather than against its own regular expressions. :func:`active_markup` lists
what would render as more than words (links, mentions, timestamps, custom emoji, headings,
lists, quotes, bold, spoilers, code); :func:`visible` is the text a reader sees, escapes and
zero-width spaces gone. Stricter than Discord where in doubt: a lone unescaped ``*`` counts.
"""

from __future__ import annotations

import re

ZERO_WIDTH_SPACE = "\u200b"
_HIDDEN = "\x00"  # stands for an escaped character while the live markup is looked for

# Discord's escape: a backslash before any character that is not a letter, digit or space.
_ESCAPABLE = re.compile(r"[^0-9A-Za-z\s]")

_LIVE = {
    "masked link": re.compile(r"\[[^\]]*\]\([^)]*\)"),
    "angle token (mention, timestamp, emoji, link)": re.compile(r"<[^\s<>]+>"),
    "url": re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://"),
    "everyone/here": re.compile(r"@(everyone|here)"),
    "heading": re.compile(r"^\s*#{1,3}\s", re.MULTILINE),
    "subtext": re.compile(r"^\s*-#\s", re.MULTILINE),
    "list": re.compile(r"^\s*(?:[-*+]|\d+\.)\s", re.MULTILINE),
    "quote": re.compile(r"^\s*>", re.MULTILINE),
    "inline marker": re.compile(r"[*_~|`]"),
}


def _split_escapes(text: str) -> tuple[str, str]:
    """(text with escaped characters hidden, the visible text)."""
    hidden: list[str] = []
    shown: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and following and _ESCAPABLE.match(following):
            hidden.append(_HIDDEN)
            shown.append(following)
            index += 2
            continue
        hidden.append(char)
        shown.append(char)
        index += 1
    return "".join(hidden), "".join(shown).replace(ZERO_WIDTH_SPACE, "")


def active_markup(text: str) -> list[str]:
    """What in ``text`` Discord would render as markup, as ``"kind: match"`` strings."""
    live, _ = _split_escapes(text)
    return [
        f"{kind}: {match.group(0)!r}"
        for kind, pattern in _LIVE.items()
        for match in pattern.finditer(live)
    ]


def visible(text: str) -> str:
    """The text a reader sees once Discord has applied the escapes."""
    return _split_escapes(text)[1]
