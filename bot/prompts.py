"""Members' free text (prompts, negative prompts) made fit to send upstream, or refused.

Why this module exists: what a member types (or pastes) can hold things nobody means to send:
control characters and terminal escapes, right-to-left overrides that make a prompt read
differently in the status message than it does to the model, zero-width characters that hide a
word from the server's blocklist, a prompt of nothing but non-breaking spaces, or ten thousand
emoji. Each is either cleaned away here, without changing the visible words, or refused with a
message that says what to change, before anything is sent or charged.

Length is counted in code points, after cleaning: that is how the catalog's limits (pydantic's
``max_length``) and the API documents (JSON Schema ``maxLength``; Vtrix: "each Chinese character
or letter counts as one character") count, so a text that passes here passes there. An emoji is
one code point or more (a family emoji is five).

What it must never do: change visible text (letters, marks, emoji sequences including their
joiners, indentation, single blank lines), send text that is empty or over its model's limit, or
know about Discord, the catalog or the network (it is handed the limit).
"""

from __future__ import annotations

import re
import unicodedata

from bot.i18n import _

# Every free-text field a request model has, and whether a blank one is refused (True) or left
# out (False). tests/test_orders.py checks that every free-text field of the catalog is here.
TEXT_FIELDS: dict[str, bool] = {"prompt": True, "negative_prompt": False}

_NEWLINES = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# Bidi embeddings, overrides, isolates and marks: invisible, and they reorder what is shown.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Invisible format characters with no job in a prompt: zero-width space, word joiner, BOM, soft
# hyphen, Mongolian vowel separator, invisible math operators, deprecated format characters,
# interlinear annotation marks, the language tag.
_INVISIBLE = frozenset(
    "\u00ad\u180e\u200b\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c\u206d\u206e\u206f"
    "\ufeff\ufff9\ufffa\ufffb\U000e0001"
)
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ: kept only between two things they can join
_BLACK_FLAG = "\U0001f3f4"  # subdivision flags are this followed by tag characters
# Characters that are not whitespace but show as nothing: a text of only these is blank too.
_BLANK_LOOKING = frozenset("\u2800\u3164\u115f\u1160\uffa0\u180e")


class PromptRefused(ValueError):
    """A text can't be sent; ``str()`` says what to change."""


def _is_tag(ch: str) -> bool:
    return "\U000e0020" <= ch <= "\U000e007f"


def _joinable(ch: str | None) -> bool:
    """Whether a joiner next to ``ch`` can join something: letters, marks (variation selectors,
    skin tones), numbers and symbols (emoji), not spaces or the text's edge."""
    return ch is not None and unicodedata.category(ch)[0] in "LMNS"


def _in_flag_sequence(kept: list[str]) -> bool:
    index = len(kept) - 1
    while index >= 0 and _is_tag(kept[index]):
        index -= 1
    return index >= 0 and kept[index] == _BLACK_FLAG


def clean_text(text: str) -> str:
    """``text`` with newlines normalised, controls and invisible characters dropped, trailing
    spaces and runs of blank lines removed, and the ends stripped."""
    text = _NEWLINES.sub("\n", text)
    kept: list[str] = []
    for index, ch in enumerate(text):
        if ch in "\n\t":
            kept.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") or ch in _BIDI or ch in _INVISIBLE:
            continue
        if ch in _JOINERS:
            following = text[index + 1] if index + 1 < len(text) else None
            if _joinable(kept[-1] if kept else None) and _joinable(following):
                kept.append(ch)
            continue
        if _is_tag(ch):
            if _in_flag_sequence(kept):
                kept.append(ch)
            continue
        kept.append(ch)
    lines: list[str] = []
    for line in "".join(kept).split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only whitespace, invisible or blank-looking characters."""
    return all(
        ch.isspace()
        or ch in _BLANK_LOOKING
        or ch in _JOINERS
        or unicodedata.category(ch) in ("Cc", "Cf", "Cs")
        for ch in text
    )


def _has_emoji(text: str) -> bool:
    return any(
        ch >= "\U0001f000" or "\u2600" <= ch <= "\u27bf" or ch in "\u200d\ufe0f" for ch in text
    )


def prepare_text(label: str, text: str, *, limit: int | None, required: bool) -> str | None:
    """The cleaned ``text`` to send as ``label``; ``None`` when it is blank and not
    ``required`` (leave the field out). Raises :class:`PromptRefused` when it is blank and
    required, or longer than ``limit`` characters once cleaned."""
    cleaned = clean_text(text)
    if is_blank(cleaned):
        if required:
            raise PromptRefused(
                _("The {field} is empty: describe what to generate.").format(field=label)
            )
        return None
    if limit is not None and len(cleaned) > limit:
        # The catalog's own sentence, word for word, so both refuse alike; emoji get a note,
        # since a member counting what they see counts fewer characters than are sent.
        note = " " + _("Each emoji counts as one character or more.") if _has_emoji(cleaned) else ""
        raise PromptRefused(
            _("The {field} is too long: {length} characters; the limit is {limit}.").format(
                field=label, length=len(cleaned), limit=limit
            )
            + note
        )
    return cleaned
