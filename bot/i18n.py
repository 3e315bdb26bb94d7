"""Members' languages: which catalog speaks to whom, and the ``_()`` every member-facing string
goes through.

Why this module exists: the bot answers each member in the language of their Discord client
(``interaction.locale``) and posts in a channel in the server's language (its preferred locale),
with English as the source language and the fallback. Text is written in English in the code
(``_("Queued as job #{job}")``, readable where it is used) and looked up in gettext catalogs
(``bot/locale/<catalog>/LC_MESSAGES/wanbot.po``, the standard format translators' tools edit),
which are read and compiled in memory with Babel when first needed: no binary ``.mo`` is kept
in the repository, so a catalog can never be out of date with its source.

Which language is "current" is a :mod:`contextvars` variable. Discord's front end sets it once
per interaction, where discord.py runs that interaction in its own task (the command tree's and
the buttons' ``interaction_check``), and for a public post around the rendering of it
(:func:`using_locale` with the server's locale). A context variable set in a task is that
task's alone (tasks run in a copy of the context), so one member's language can never leak into
another member's answer, and code deep in the core (budgets, policy, media checks) translates
its refusals where it words them, without a locale parameter threaded through every call.
Outside any interaction (the terminal, the engine's background work) the current language is
English.

Placeholders are named and filled after the lookup (``_("{name} is {size}").format(...)``),
never f-strings inside ``_()``: the extractor needs the literal, and a translation may put the
placeholders in another order. Text written down before it is shown (constants, messages
stored in the database) is marked with :func:`N_` and translated with :func:`_` where shown
(:func:`stored` reads a stored sentence's values back through its template).

Messages are translated where they are worded, under the current language (not carried as
lazy objects to the front end): the core raises its refusals as plain strings, as it always
did. What ``_()`` returns is a :class:`Text`, a ``str`` that keeps its English, so a log line
about a refusal quotes it in English whoever was answered.

What it must never do: import discord.py (the core uses it), fail a member's command because
of a catalog (a missing entry reads as English), or translate what staff and operators read
(logs, the audit channel, the terminal stay English).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import re
from collections.abc import Iterator
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "wanbot"
DEFAULT_LOCALE = "en-US"
"""Discord's name for the source language: the text as written in the code."""

CATALOGS: dict[str, str] = {"zh-CN": "zh_CN"}
"""Discord locale -> the catalog (gettext's name) that speaks it. Every other locale, English."""

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "wanbot_locale", default=DEFAULT_LOCALE
)


def catalog_for(locale: str | None) -> str | None:
    """The catalog for a Discord locale (``"zh-CN"`` -> ``"zh_CN"``); ``None``: English."""
    return CATALOGS.get(str(locale)) if locale is not None else None


def po_path(catalog: str) -> resources.abc.Traversable:
    """The source catalog of ``catalog`` inside the installed package."""
    return resources.files("bot.locale") / catalog / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(catalog: str) -> NullTranslations:
    """The compiled catalog (read from its ``.po`` and compiled in memory, once per process).

    Fuzzy entries are left out (a translator's "not sure yet"), so they read as English.
    """
    with po_path(catalog).open("rb") as po:
        parsed = read_po(po, locale=catalog, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, parsed, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def load_catalogs() -> None:
    """Compile every catalog now (at start-up), so a broken one stops the start, not a command."""
    for catalog in CATALOGS.values():
        translations(catalog)


def _translations_for(locale: str | None) -> NullTranslations | None:
    catalog = catalog_for(locale)
    return None if catalog is None else translations(catalog)


def current_locale() -> str:
    """The Discord locale this task speaks (English unless set)."""
    return _current.get()


def set_locale(locale: str | None) -> None:
    """Speak ``locale`` for the rest of this task (one interaction's task: see the module)."""
    _current.set(str(locale) if locale is not None else DEFAULT_LOCALE)


@contextlib.contextmanager
def using_locale(locale: str | None) -> Iterator[None]:
    """Speak ``locale`` inside the block only (a public post, in the server's language)."""
    token = _current.set(str(locale) if locale is not None else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


class Text(str):
    """A message as shown (in the current language) that keeps its English, ``english``.

    Members read the text; logs quote :func:`english`, so an operator's log stays English
    whoever was answered. :meth:`format` fills both. A ``Text`` joined to other strings (``+``,
    f-strings) is a plain ``str`` again: its English is lost and logs quote what was shown.
    """

    english: str

    def __new__(cls, shown: str, english: str) -> Text:
        text = super().__new__(cls, shown)
        text.english = english
        return text

    def format(self, *args: object, **kwargs: object) -> Text:
        return Text(
            str.format(self, *args, **kwargs),
            self.english.format(
                *(english(value) for value in args),
                **{key: english(value) for key, value in kwargs.items()},
            ),
        )


def english(value: object) -> str:
    """The English of a :class:`Text` (what the code wrote), else ``str(value)``."""
    return value.english if isinstance(value, Text) else str(value)


def message_of(error: BaseException) -> str:
    """An exception's message as given (a :class:`Text` stays one; ``str()`` would copy it
    into a plain ``str``)."""
    if len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)


def stored(message: str | None, *templates: str) -> str:
    """A message stored in English (with a job), in the current language: a catalog entry
    as it is, or one of ``templates`` (``N_`` entries with ``{placeholders}``) with the values
    read back from the stored text; anything else (a provider's own words) unchanged."""
    if not message:
        return ""
    for template in templates:
        found = _template_pattern(template).fullmatch(message)
        if found is not None:
            return gettext(template).format(**found.groupdict())
    return gettext(message)


@functools.cache
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
        for index, part in enumerate(parts)
    )
    return re.compile(pattern, re.DOTALL)


def translate(message: str, locale: str | None) -> str | None:
    """``message`` in ``locale``'s catalog, or ``None`` when that locale has no translation of it
    (English, or an entry not translated yet)."""
    found = _translations_for(locale)
    if found is None or not message:
        return None
    translated = found.gettext(message)
    return translated if translated != message else None


def gettext(message: str | None) -> str:
    """``message`` in the current language; the English itself when there is no translation
    (``None`` and ``""`` read as ``""``, never as the catalog's header). A :class:`Text` at
    run time, typed ``str`` so that callers mix it freely with other text."""
    if not message:
        return Text("", "")
    source = english(message)
    found = _translations_for(_current.get())
    return Text(source if found is None else found.gettext(source), source)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count``, by the current language's plural rules."""
    source = singular if count == 1 else plural
    found = _translations_for(_current.get())
    if found is None:
        return Text(source, source)
    return Text(found.ngettext(singular, plural, count), source)


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it now (translate where shown)."""
    return message


_ = gettext

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
"""The functions the extractor collects messages from (Babel's keyword spec)."""
