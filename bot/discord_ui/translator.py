"""Slash commands in the member's language: discord.py's ``app_commands.Translator`` on the
bot's catalogs, and the one place the language of an interaction is chosen.

Why this module exists: Discord shows each member a command's description, its options'
descriptions and its choices in their client's language when the registered command carries
``*_localizations`` for it; discord.py asks a :class:`~discord.app_commands.Translator` for them
at sync, for every string of the tree (plain strings count: ``auto_locale_strings`` wraps them
in ``locale_str``), so the cogs keep plain English and the catalogs say the rest.

Names are not localised (commands, groups, options): they stay the English words that members
type, the README and the staff's messages name, and that a member can tell another in a server
of several languages ("run /usage me"), while everything that explains them (descriptions,
option descriptions, choice labels) is translated. :meth:`WanTranslator.translate` returns
``None`` for names, so Discord shows the English name everywhere.

:func:`use_member_locale` is what every entry point calls first (the tree's and the buttons'
``interaction_check``): discord.py runs each interaction in a task of its own and calls those
checks in that task just before the callback (and before autocomplete), so the language set
there holds for everything that interaction says, down to the core's refusals, and for nothing
else (see :mod:`bot.i18n`). Public posts take the server's language instead
(:func:`guild_locale`).

What it must never do: translate a command's name, or raise from ``translate`` (a missing
catalog entry is ``None``: Discord shows the English).
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot import i18n

_NAME_LOCATIONS = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)


class WanTranslator(app_commands.Translator):
    """Descriptions and choice labels from the catalogs; names stay English (module doc)."""

    async def load(self) -> None:
        i18n.load_catalogs()  # a broken catalog stops start-up, never a member's command

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if context.location in _NAME_LOCATIONS:
            return None
        return i18n.translate(string.message, locale.value)


def use_member_locale(interaction: discord.Interaction[Any]) -> None:
    """Speak the member's client language for the rest of this interaction's task."""
    i18n.set_locale(interaction.locale.value)


def guild_locale(guild: discord.Guild | None) -> str:
    """The language of a server's public posts: its community language (preferred locale)."""
    return guild.preferred_locale.value if guild is not None else i18n.DEFAULT_LOCALE


async def command_strings(tree: app_commands.CommandTree[Any]) -> list[str]:
    """Every string discord.py asks the translator for when it syncs ``tree``, names left out:
    the catalog test and the catalog update read the commands' messages from here (their
    source is decorators' arguments, which no extractor sees)."""
    seen: dict[str, None] = {}

    class _Recorder(app_commands.Translator):
        async def translate(
            self,
            string: app_commands.locale_str,
            locale: discord.Locale,
            context: app_commands.TranslationContextTypes,
        ) -> str | None:
            if context.location not in _NAME_LOCATIONS and string.message:
                seen.setdefault(string.message, None)
            return None

    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return list(seen)
