"""Reading values out of a provider's JSON without trusting their shape or size.

Why this module exists: a poll answer is a stranger's JSON. A string where a list of links is
documented, a link to ``file:///``, a cost of ``NaN`` or ``1e999``, a task id of ``../other``, an
error message of a megabyte with terminal escapes in it: each must be read as "unreadable", never
as a success with wrong links or a wrong bill (a misread is worse than a refusal). Each helper
here reads one kind of value and either returns it in a known-good form or raises
:class:`Unreadable`; the provider modules decide what an unreadable answer means (for a poll:
not finished yet).

What it must never do: raise anything but :class:`Unreadable`, or return text that is unbounded,
holds control characters, bidi overrides or lone surrogates (provider text ends up in logs,
SQLite and members' messages). A whole answer never goes into a log line: :func:`excerpt` clips.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from bot.providers.errors import DETAIL_LIMIT, clip

MAX_URL_CHARS = 4096
# wan2.5-i2i-preview makes at most 4 images, the video models one video: more is not an answer.
MAX_RESULT_URLS = 16
MAX_WORD_CHARS = 64
MAX_TASK_ID_CHARS = 128
# The dearest job costs a few dollars; a "cost" beyond this is not a price but a misreading.
MAX_BILLED_USD = Decimal(10_000)
EXCERPT_CHARS = 200
COST_EXCERPT_CHARS = 40

_URL = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")  # one safe path segment, never "." or ".."
_PLAIN_DECIMAL = re.compile(r"\d{1,12}(?:\.\d{1,12})?")
_PLAIN_NUMBER = re.compile(r"-?\d{1,6}(?:\.\d{1,12})?")
# Years a provider's timestamp can sensibly name (epoch seconds of 2000-01-01 and 2100-01-01).
_EPOCH_RANGE = (946_684_800.0, 4_102_444_800.0)
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)


class Unreadable(ValueError):
    """A value in a provider's answer that cannot be read safely; ``str()`` says what it was."""


def kind(value: object) -> str:
    """What a JSON value is, in words for a log line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def printable(text: str) -> str:
    """``text`` without control characters, bidi controls, other invisible format characters
    or lone surrogates (each becomes a space; :func:`~bot.providers.errors.clip` folds runs)."""
    return "".join(
        " " if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch
        for ch in text
    )


def text(value: object, limit: int = DETAIL_LIMIT) -> str:
    """A provider's words (a message, a title, a code) as short printable text; ``""`` when
    absent or not text. Numbers are read as their digits (Vtrix sends codes as text, MuleRouter
    as numbers); objects and lists are never turned into text."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if not isinstance(value, str):
        return ""
    return clip(printable(value[: limit * 4]), limit)


def word(value: object) -> str | None:
    """A short status word (stripped), or ``None`` when it is not short text."""
    if not isinstance(value, str) or len(value) > MAX_WORD_CHARS * 4:
        return None
    shown = " ".join(printable(value).split())
    return shown if len(shown) <= MAX_WORD_CHARS else None


def http_url(value: object) -> str:
    """One result link: an absolute http(s) URL of printable ASCII with a host, sensibly long."""
    if not isinstance(value, str):
        raise Unreadable(f"a result link is {kind(value)}")
    if not value or len(value) > MAX_URL_CHARS or not _URL.fullmatch(value):
        raise Unreadable(f"a result link is not a plain URL ({len(value)} characters)")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise Unreadable("a result link is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Unreadable(f"a result link is not an http(s) URL (scheme {parts.scheme[:10]!r})")
    return value


def url_list(value: object, *, what: str) -> tuple[str, ...]:
    """A list of result links, every one of them good; ``()`` when absent or empty.

    Strict on purpose: one bad item makes the whole list unreadable, since posting some of a
    member's images while billing for all of them is a misread too.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Unreadable(f"{what} is {kind(value)}, not a list")
    if len(value) > MAX_RESULT_URLS:
        raise Unreadable(f"{what} has {len(value)} items; at most {MAX_RESULT_URLS} make sense")
    return tuple(http_url(item) for item in value)


def task_id(value: object) -> str | None:
    """A task id that is safe to put in a poll path (text, or a whole number), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**30:
        value = str(value)
    if (
        isinstance(value, str)
        and len(value) <= MAX_TASK_ID_CHARS
        and _TASK_ID.fullmatch(value)
        and value.isascii()
    ):
        return value
    return None


def cost(value: object) -> Decimal | None:
    """A billed cost in USD as an exact Decimal; ``None`` when absent.

    Text must be a plain decimal (``"0.14"``, no exponent, sign or underscores); a number must
    be finite. Negative, non-finite or absurd amounts raise :class:`Unreadable`.
    """
    if value is None:
        return None
    amount: Decimal
    if isinstance(value, bool):
        raise Unreadable("the cost is true/false")
    if isinstance(value, int):
        if abs(value) > 10**18:
            raise Unreadable("the cost is an absurd number")
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Unreadable("the cost is not a finite number")
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        stripped = value.strip()
        if not _PLAIN_DECIMAL.fullmatch(stripped):
            raise Unreadable("the cost is not a plain decimal")
        try:
            amount = Decimal(stripped)
        except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
            raise Unreadable("the cost is not a plain decimal") from None
    else:
        raise Unreadable(f"the cost is {kind(value)}")
    if amount == 0:
        return Decimal(0)  # also turns a "-0.0" into a plain zero
    if not Decimal(0) < amount <= MAX_BILLED_USD:
        raise Unreadable("the cost is negative or absurdly large")
    return amount


def fraction(value: object) -> float | None:
    """Progress as 0..1 (a percentage above 1 is scaled); ``None`` when unreadable.

    Text holding a plain number is read too: only the gauge is at stake, not money or links.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _PLAIN_NUMBER.fullmatch(value.strip()):
            return None
        value = float(value)
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number):
        return None
    progress = number / 100 if number > 1 else number
    return min(max(progress, 0.0), 1.0)


def epoch(stamp: object) -> float | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) or UNIX seconds, as epoch
    seconds, else ``None``.

    Times outside 2000..2100 are taken for what they are: not a time this task ran at.
    """
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        seconds = float(stamp)  # NaN and infinities fall outside the range below
    elif not isinstance(stamp, str) or not stamp or len(stamp) > 64:
        return None
    else:
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    low, high = _EPOCH_RANGE
    return seconds if low <= seconds <= high else None


def excerpt(body: object, limit: int = EXCERPT_CHARS) -> str:
    """The start of an answer for a log line: JSON with every odd character escaped, clipped."""
    try:
        shown = json.dumps(body, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        shown = f"<{kind(body)}>"
    return clip(shown[: limit * 2], limit)


class OnceLog:
    """Tells the log about each task's unreadable answers once (WARNING), then only at DEBUG:
    a task whose answers stay unreadable is looked at for up to a day. Remembers ``limit``
    tasks, forgetting the oldest first."""

    def __init__(self, logger: logging.Logger, provider: str, *, limit: int = 4096) -> None:
        self._log = logger
        self._provider = provider
        self._limit = limit
        self._told: OrderedDict[str, None] = OrderedDict()

    def unreadable(self, task: str, why: str) -> None:
        level = logging.DEBUG if task in self._told else logging.WARNING
        self._told[task] = None
        self._told.move_to_end(task)
        while len(self._told) > self._limit:
            self._told.popitem(last=False)
        self._log.log(
            level,
            "%s task %s: answer not read (%s); treating the task as not finished",
            self._provider,
            task,
            why,
        )
