"""Which language speaks to whom: the catalog of a Discord locale, English as the fallback,
and a language set for one interaction's task staying in that task.

What it must never do: depend on the exact wording of a translation beyond a few entries
checked as examples (the catalog test checks them all).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot import i18n
from bot.catalog import RequestInvalid, WanI2I25Request
from bot.discord_ui.translator import WanTranslator, guild_locale, use_member_locale
from bot.providers.base import CONTENT_REFUSED, COULD_NOT_GENERATE


def test_zh_cn_has_a_catalog_and_every_other_locale_is_english() -> None:
    assert i18n.catalog_for("zh-CN") == "zh_CN"
    for other in ("en-US", "en-GB", "zh-TW", "fr", "ja", None):
        assert i18n.catalog_for(other) is None
        assert i18n.translate("Queued", other) is None


def test_gettext_speaks_the_current_locale_and_falls_back_to_english() -> None:
    assert i18n._("Queued") == "Queued"
    with i18n.using_locale("zh-CN"):
        assert i18n._("Queued") == "排队中"
        assert i18n._("A sentence no catalog has.") == "A sentence no catalog has."
        assert i18n._("") == ""  # never the catalog's header
        assert i18n._(None) == ""
        assert i18n.ngettext("{n} thing", "{n} things", 2) == "{n} things"  # unknown: English
    assert i18n.current_locale() == i18n.DEFAULT_LOCALE
    assert i18n.ngettext("{n} thing", "{n} things", 1) == "{n} thing"


def test_placeholders_are_filled_after_translation() -> None:
    with i18n.using_locale("zh-CN"):
        text = i18n._("Job #{job} isn't yours.").format(job=7)
    assert text == "任务 #7 不是你的。"


async def test_a_locale_set_in_one_task_never_reaches_another() -> None:
    seen: dict[str, str] = {}
    started = asyncio.Event()

    async def member(locale: str, name: str) -> None:
        i18n.set_locale(locale)
        if locale == "zh-CN":
            started.set()
        else:
            await started.wait()
        await asyncio.sleep(0)
        seen[name] = i18n._("Queued")

    await asyncio.gather(member("zh-CN", "zh"), member("en-US", "en"))
    assert seen == {"zh": "排队中", "en": "Queued"}
    assert i18n.current_locale() == i18n.DEFAULT_LOCALE  # the test's own task untouched


def test_using_locale_restores_the_outer_one() -> None:
    with i18n.using_locale("zh-CN"):
        with i18n.using_locale("en-US"):
            assert i18n._("Queued") == "Queued"
        assert i18n._("Queued") == "排队中"


def _interaction(locale: str, guild_locale: str | None) -> Any:
    return SimpleNamespace(
        locale=discord.Locale(locale),
        guild_locale=discord.Locale(guild_locale) if guild_locale else None,
        guild=None,
    )


async def test_members_and_public_posts_take_their_own_locales() -> None:
    async def run() -> str:
        use_member_locale(_interaction("zh-CN", "en-US"))
        return i18n._("Queued")

    assert await asyncio.create_task(run()) == "排队中"
    assert guild_locale(None) == i18n.DEFAULT_LOCALE
    assert guild_locale(SimpleNamespace(preferred_locale=discord.Locale.chinese)) == "zh-CN"  # type: ignore[arg-type]


async def test_the_translator_localises_descriptions_and_choices_not_names() -> None:
    translator = WanTranslator()
    await translator.load()
    command: Any = app_commands.Command(
        name="jobs", description="Your generations", callback=lambda interaction: None
    )
    zh = discord.Locale.chinese
    text = app_commands.locale_str("Your generations")
    describe = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.command_description, command
    )
    name = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.command_name, command
    )
    assert await translator.translate(text, zh, describe) == "你的生成任务"
    assert await translator.translate(app_commands.locale_str("Cancel"), zh, name) is None
    assert await translator.translate(text, discord.Locale.american_english, describe) is None
    unknown = app_commands.locale_str("Not in any catalog")
    assert await translator.translate(unknown, zh, describe) is None


@pytest.mark.parametrize("catalog", sorted(i18n.CATALOGS.values()))
def test_every_catalog_compiles(catalog: str) -> None:
    assert i18n.translations(catalog).gettext("Queued") != ""


def test_a_shown_message_keeps_its_english_for_the_log() -> None:
    with i18n.using_locale("zh-CN"):
        state = i18n._("queued")
        text = i18n._("Job #{job} can't be cancelled now ({state}).").format(job=3, state=state)
        error = ValueError(text)
    assert text == "任务 #3 现在无法取消（排队中）。"
    assert i18n.english(text) == "Job #3 can't be cancelled now (queued)."
    assert i18n.english(i18n.message_of(error)) == "Job #3 can't be cancelled now (queued)."
    assert i18n.english("plain") == "plain"
    assert i18n.message_of(RuntimeError("a", "b")) == "('a', 'b')"


def test_stored_english_is_shown_translated_with_its_values_read_back() -> None:
    saved = CONTENT_REFUSED.format(reason="InappropriateContent: nudity")
    with i18n.using_locale("zh-CN"):
        shown = i18n.stored(saved, COULD_NOT_GENERATE, CONTENT_REFUSED)
        assert shown == (
            "服务商拒绝了该内容（InappropriateContent: nudity）。请尝试改写提示词或换一张图片。"
        )
        assert i18n.stored("Nothing was charged.") == "未产生任何费用。"  # a plain entry
        assert i18n.stored("The provider's own words.", CONTENT_REFUSED) == (
            "The provider's own words."
        )
        assert i18n.stored(None) == ""
    assert i18n.stored(saved, CONTENT_REFUSED) == saved  # English: as stored


def test_request_validation_speaks_the_member_s_language() -> None:
    image = "data:image/png;base64,AAAA"
    data = {"prompt": "autumn", "images": [image], "size": "640x3000", "n": 9}
    with pytest.raises(RequestInvalid) as english_refusal:
        WanI2I25Request.parse(data)
    with i18n.using_locale("zh-CN"), pytest.raises(RequestInvalid) as chinese_refusal:
        WanI2I25Request.parse(data)
    assert "The n (number of images) must be between 1 and 4." in english_refusal.value.problems
    assert chinese_refusal.value.problems == [
        "尺寸：640*3000 太窄；宽高比必须在 1:4 到 4:1 之间。",
        "n（图片数量）必须在 1 到 4 之间。",
    ]
