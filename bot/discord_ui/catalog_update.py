"""Keeping the message catalogs in step with the code: extract, update, check.

Why this module exists: the catalogs must hold exactly the messages the bot can say. Those come
from two places: ``_()``/``ngettext()``/``N_()`` calls in ``bot/`` and ``cogs/`` (Babel's Python
extractor, with :data:`bot.i18n.KEYWORDS`), and the slash commands' descriptions and choices,
which are decorator arguments discord.py hands the translator at sync (read here from the loaded
command tree, :func:`bot.discord_ui.translator.command_strings`). ``tests/test_i18n_catalogs.py``
runs the same extraction and fails on a message without a translation, a stale entry or a
translation whose ``{placeholders}`` differ; ``python -m bot.discord_ui.catalog_update`` rewrites
``bot/locale/wanbot.pot`` and merges it into every catalog (new messages untranslated, stale
ones dropped), and ``--init <catalog>`` starts a new language (README, "Languages").

What it must never do: run in the bot (it loads the cogs into a client that never connects),
or mark a translation as done (that is a translator's call).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import string
from collections.abc import Iterable
from pathlib import Path

import discord
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord.ext import commands

from bot import i18n
from bot.discord_ui.client import extension_names
from bot.discord_ui.translator import command_strings

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "bot" / "locale"
TEMPLATE = LOCALE_DIR / f"{i18n.DOMAIN}.pot"
SOURCE_DIRS = ("bot", "cogs")
COMMANDS_LOCATION = "slash-commands"  # descriptions and choices, read from the command tree
PO_WIDTH = 100
HEADER = (
    "# {what} of wanbot.\n"
    "# Distributed under the same license as the wanbot project (MIT).\n"
    '# Update with `python -m bot.discord_ui.catalog_update` (README, "Languages").\n#'
)


def po_file(catalog: str) -> Path:
    return LOCALE_DIR / catalog / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


async def _tree_strings() -> list[str]:
    """The commands' translatable strings, from the cogs loaded into an offline client."""
    client = commands.Bot(
        command_prefix=commands.when_mentioned, intents=discord.Intents.none(), help_command=None
    )
    for name in extension_names():
        await client.load_extension(name)
    return await command_strings(client.tree)


def extract() -> Catalog:
    """The template: every message the code and the command tree can show a member."""
    template = Catalog(
        project="wanbot",
        domain=i18n.DOMAIN,
        fuzzy=False,
        header_comment=HEADER.format(what="Message template"),
        msgid_bugs_address="",
    )
    for folder in SOURCE_DIRS:
        found = extract_from_dir(
            ROOT / folder,
            method_map=[("**.py", "python")],
            keywords=i18n.KEYWORDS,
            comment_tags=("Translators:",),
            strip_comment_tags=True,
        )
        for filename, lineno, message, comments, context in found:
            template.add(
                message,
                locations=[(f"{folder}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
                flags=("python-brace-format",),
            )
    for text in asyncio.run(_tree_strings()):
        if text not in template:
            template.add(text, locations=[(COMMANDS_LOCATION, 0)])
    return template


def _write(catalog: Catalog, path: Path) -> None:
    """Sorted, file names without line numbers, and left alone when nothing but its date would
    change: a catalog changes only with its messages, so branches that touch different
    messages merge cleanly."""
    rendered = io.BytesIO()
    write_po(
        rendered,
        catalog,
        width=PO_WIDTH,
        sort_output=True,
        ignore_obsolete=True,
        include_lineno=False,
    )
    new = rendered.getvalue()
    if path.exists() and _undated(path.read_bytes()) == _undated(new):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(new)


def _undated(po: bytes) -> bytes:
    return re.sub(rb'^"(POT-Creation-Date|PO-Revision-Date): .*$', b"", po, flags=re.MULTILINE)


def read(path: Path, catalog: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=catalog, domain=i18n.DOMAIN)


def update(template: Catalog) -> None:
    """Write the template and merge it into every catalog (no fuzzy guesses: an entry is
    either translated by someone or untranslated)."""
    _write(template, TEMPLATE)
    for catalog in i18n.CATALOGS.values():
        current = read(po_file(catalog), catalog)
        current.update(template, no_fuzzy_matching=True)
        _write(current, po_file(catalog))


def init(template: Catalog, catalog: str) -> Path:
    """A new, empty catalog for ``catalog`` (``fr``, ``pt_BR``…) from the template."""
    fresh = Catalog(
        locale=catalog,
        domain=i18n.DOMAIN,
        project="wanbot",
        header_comment=HEADER.format(what=f"The {catalog} messages"),
        msgid_bugs_address="",
    )
    fresh.update(template, no_fuzzy_matching=True)
    _write(fresh, po_file(catalog))
    return po_file(catalog)


def placeholders(text: str) -> set[str]:
    """The ``{names}`` of a ``str.format`` template (``{{`` is a brace, not a placeholder)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def ids(messages: Iterable[Message]) -> set[str]:
    """A catalog's messages by their msgid (the singular of a plural entry)."""
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in messages
        if message.id
    }


def problems(template: Catalog, translated: Catalog) -> list[str]:
    """What is wrong with ``translated`` against ``template``: missing, untranslated, fuzzy,
    stale entries, and translations whose placeholders are not their source's."""
    wanted, have = ids(template), ids(translated)
    found = [f"missing from the catalog: {text!r}" for text in sorted(wanted - have)]
    found += [f"stale (no longer in the code): {text!r}" for text in sorted(have - wanted)]
    for message in translated:
        if not message.id:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        targets = (
            [message.string] if isinstance(message.string, str) else list(message.string or ())
        )
        if message.fuzzy or not all(targets) or not targets:
            found.append(f"not translated: {sources[0]!r}")
            continue
        expected = set().union(*(placeholders(text) for text in sources))
        for target in targets:
            try:
                got = placeholders(target)
            except ValueError as exc:
                found.append(f"broken braces in the translation of {sources[0]!r}: {exc}")
                continue
            if got != expected:
                found.append(
                    f"placeholders {sorted(got)} instead of {sorted(expected)} in the "
                    f"translation of {sources[0]!r}"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.discord_ui.catalog_update")
    parser.add_argument("--init", metavar="CATALOG", help="start a new language (fr, pt_BR…)")
    parser.add_argument("--check", action="store_true", help="only list what is wrong")
    args = parser.parse_args(argv)
    template = extract()
    if args.init:
        print(f"wrote {init(template, args.init)}; add its Discord locale to bot.i18n.CATALOGS")
        return 0
    if not args.check:
        update(template)
    wrong = [
        f"{catalog}: {problem}"
        for catalog in i18n.CATALOGS.values()
        for problem in problems(template, read(po_file(catalog), catalog))
    ]
    print("\n".join(wrong) or "every catalog is complete")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
