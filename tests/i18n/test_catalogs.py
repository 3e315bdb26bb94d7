"""The message catalogs hold exactly what the bot can say, each message translated and intact.

Why this module exists: a message added to the code without a translation would reach a zh-CN
member in English, and a translation that drops or renames a ``{placeholder}`` would raise a
``KeyError`` in the middle of a member's command. The extraction here is the one
``python -m bot.discord_ui.catalog_update`` runs (Babel's Python extractor over ``bot/`` and
``cogs/`` with the code's keywords, plus every description and choice of the loaded command
tree), so this test and the update command cannot disagree about what is in the code.

What it must never do: accept a catalog by comparing it with itself (it always compares with a
fresh extraction).
"""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from bot import i18n
from bot.discord_ui import catalog_update
from bot.discord_ui.catalog_update import TEMPLATE, extract, ids, placeholders, po_file, problems

FIX = "run `python -m bot.discord_ui.catalog_update`, then translate what it lists"


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extract()


@pytest.mark.parametrize("catalog", sorted(i18n.CATALOGS.values()))
def test_every_message_is_translated_with_its_placeholders(template: Catalog, catalog: str) -> None:
    found = problems(template, catalog_update.read(po_file(catalog), catalog))
    assert not found, f"{catalog}: {len(found)} problem(s) ({FIX}):\n" + "\n".join(found)


def test_the_template_is_current(template: Catalog) -> None:
    on_disk = ids(catalog_update.read(TEMPLATE))
    assert on_disk == ids(template), (
        f"bot/locale/wanbot.pot is out of date ({FIX}): "
        f"new {sorted(ids(template) - on_disk)}, gone {sorted(on_disk - ids(template))}"
    )


def test_the_extraction_sees_code_commands_and_plurals(template: Catalog) -> None:
    found = ids(template)
    assert "Queued as job #{job}: estimated {cost}. {follow}" in found  # _() in bot/
    assert "Your own generations and spend" in found  # a command's description, from the tree
    assert "today" in found  # a choice discord.py builds from a Literal
    assert "Held: {amount} for {count} job whose outcome is unknown" in found  # ngettext
    assert "Queued" in found  # N_() in bot/wording.py
    assert "" not in found


def _one(msgid: str | tuple[str, str], msgstr: str | tuple[str, ...]) -> Catalog:
    catalog = Catalog(locale="zh_CN", domain=i18n.DOMAIN)
    catalog.add(msgid, msgstr)
    return catalog


def test_a_translation_that_breaks_a_placeholder_is_caught() -> None:
    template = _one("Job #{job} isn't yours.", "")
    assert problems(template, _one("Job #{job} isn't yours.", "任务 #{job} 不是你的。")) == []
    renamed = problems(template, _one("Job #{job} isn't yours.", "任务 #{id} 不是你的。"))
    assert renamed
    assert "placeholders ['id'] instead of ['job']" in renamed[0]
    assert problems(template, _one("Job #{job} isn't yours.", "任务不是你的。"))
    assert problems(template, _one("Job #{job} isn't yours.", "任务 #{job 不是你的。"))


def test_missing_untranslated_fuzzy_and_stale_entries_are_caught() -> None:
    template = _one("Queued", "")
    assert problems(template, Catalog(locale="zh_CN")) == ["missing from the catalog: 'Queued'"]
    assert problems(template, _one("Queued", "")) == ["not translated: 'Queued'"]
    fuzzy = _one("Queued", "排队中")
    fuzzy["Queued"].flags.add("fuzzy")
    assert problems(template, fuzzy) == ["not translated: 'Queued'"]
    stale = _one("Queued", "排队中")
    stale.add("Gone", "没了")
    assert problems(template, stale) == ["stale (no longer in the code): 'Gone'"]


def test_plural_forms_are_checked_too() -> None:
    msgid = ("{count} job", "{count} jobs")
    template = _one(msgid, ("", ""))
    assert problems(template, _one(msgid, ("{count} 个任务",))) == []
    assert problems(template, _one(msgid, ("个任务",)))


def test_placeholders_reads_format_fields_only() -> None:
    assert placeholders("{a} and {b}, {{literal}}") == {"a", "b"}
