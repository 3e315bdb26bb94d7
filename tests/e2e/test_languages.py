"""Members' languages end to end: a zh-CN member and an en-US member in the same server each
see the commands and the bot's answers in their own language, and public posts speak the
server's language.

The real bot process registers its commands with the emulator (which checks the localisations
as Discord does) and answers interactions that carry each member's client locale; a second
server whose community language is Simplified Chinese gets its status and result posts in
Chinese, whoever asked.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from bot.jobs.states import JobState
from tests.e2e.conftest import World, ephemeral_text, reply_of
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, Guild
from tests.waiting import wait_until

ZH = "zh-CN"
EN = "en-US"


def fields_of(message: StoredMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def footer(message: StoredMessage) -> str:
    return "".join(e.get("footer", {}).get("text", "") for e in message.embeds)


async def test_commands_are_registered_with_chinese_descriptions(world: World) -> None:
    zh = world.discord.command_as_seen("wan-t2v", ZH)
    en = world.discord.command_as_seen("wan-t2v", EN)
    assert zh["name"] == en["name"] == "wan-t2v"  # names stay English (the translator's doc)
    assert zh["description"] == "根据文字提示词生成 5 秒视频（Wan 2.2 Plus）。"
    assert en["description"] == "Make a 5-second video from a text prompt (Wan 2.2 Plus)."
    zh_options = {option["name"]: option for option in zh["options"]}
    assert zh_options["prompt"]["description"] == "视频中发生的内容"
    assert zh_options["negative_prompt"]["description"] == "不希望出现的内容"
    en_options = {option["name"]: option for option in en["options"]}
    assert en_options["prompt"]["description"] == "What happens in the video"

    usage = world.discord.command_as_seen("usage", ZH)
    assert usage["description"] == "生成用量与花费"
    [me] = [sub for sub in usage["options"] if sub["name"] == "me"]
    assert me["description"] == "你自己的生成任务与花费"
    [period] = me["options"]
    assert [choice["name"] for choice in period["choices"]] == ["今天", "本月", "全部"]
    assert [choice["value"] for choice in period["choices"]] == ["today", "month", "all"]

    # Every command a zh-CN client lists has its description in Chinese.
    for command in world.discord.commands():
        assert ZH in (command.get("description_localizations") or {}), command["name"]


async def test_help_answers_each_member_in_their_language(world: World) -> None:
    english = (await ephemeral_text(world, "alice", "general", "help", locale=EN)).splitlines()
    chinese = (await ephemeral_text(world, "bob", "general", "help", locale=ZH)).splitlines()
    assert english[0] == "**Generate**"
    assert chinese[0] == "**生成**"
    assert "**你的任务**" in chinese
    assert "每日预算：无上限。" in chinese
    [t2v] = [line for line in chinese if line.startswith("/wan-t2v：")]
    assert t2v == (
        "/wan-t2v：根据文字提示词生成 5 秒视频（Wan 2.2 Plus）。 按本服务器的默认设置"
        "（尺寸 832*480, 提示词扩写 开）约 $0.10。"
    )
    assert "Daily budget: no cap." in english
    assert not any(re.search(r"[\u4e00-\u9fff]", line) for line in english)


async def test_a_refusal_speaks_the_member_s_language(world: World) -> None:
    options = {"prompt": "   "}  # blank once cleaned: refused before anything is sent
    zh = await reply_of(await world.discord.slash("bob", "general", "wan-t2v", options, locale=ZH))
    en = await reply_of(
        await world.discord.slash("alice", "general", "wan-t2v", options, locale=EN)
    )
    assert zh.content == "提示词为空：请描述要生成的内容。"
    assert en.content == "The prompt is empty: describe what to generate."
    zh_no_job = await reply_of(
        await world.discord.slash("bob", "general", "jobs cancel", {"job": 999999}, locale=ZH)
    )
    assert zh_no_job.content == "本服务器没有任务 #999999。"


async def test_the_price_question_and_its_buttons_speak_the_member_s_language(
    world: World,
) -> None:
    itx = await world.discord.slash(
        "bob", "general", "wan-t2v", {"prompt": "a cat", "size": "1920*1080"}, locale=ZH
    )
    question = await itx.wait_original(lambda m: bool(m.buttons), timeout=15)
    assert question.content == (
        "这些设置的估算费用为 **$0.50**；本服务器 wan2.2-t2v-plus 的默认设置"
        "（尺寸 832*480, 提示词扩写 开）只需 $0.10。仍要生成吗？"
    )
    assert [b.get("label") for b in question.buttons] == ["以 $0.50 生成", "取消"]
    cancel = question.buttons[1]["custom_id"]
    await (await world.discord.click("bob", question, cancel, locale=ZH)).response(timeout=10)
    answer = await itx.wait_original(lambda m: not m.buttons, timeout=15)
    assert answer.content == (
        "已取消：没有开始生成，也未产生费用。不填这些选项即可使用本服务器的默认设置。"
    )


async def _queued(world: World, user: str, channel: str | Channel, locale: str) -> str:
    itx = await world.discord.slash(
        user, channel, "wan-t2v", {"prompt": "a cat surfing", "size": "624*624"}, locale=locale
    )
    reply = await itx.wait_original(
        lambda m: not m.loading and "#" in m.content and "$" in m.content, timeout=15
    )
    assert reply.ephemeral
    return reply.content


async def test_each_member_is_queued_in_their_language_and_the_post_in_the_server_s(
    world: World,
) -> None:
    zh_reply = await _queued(world, "bob", "general", ZH)
    en_reply = await _queued(world, "alice", "general", EN)
    assert re.match(
        r"已加入队列，任务 #(\d+)：估算费用 \$0\.10。在这里查看进度：https://", zh_reply
    )
    assert re.match(r"Queued as job #(\d+): estimated \$0\.10\. Follow it here: https://", en_reply)

    # This server speaks English: the status post of the zh-CN member's job is in English.
    zh_job = int(re.findall(r"#(\d+)", zh_reply)[0])
    general = world.discord.guild.channels["general"]
    status = await world.discord.wait_for_message(
        general, lambda m: footer(m) == f"wanbot job #{zh_job} · status", timeout=15
    )
    assert "Requested by" in fields_of(status)
    await world.wait_job(zh_job, JobState.DELIVERED)
    result = await world.discord.wait_for_message(
        general, lambda m: footer(m) == f"wanbot job #{zh_job} · result", timeout=30
    )
    assert result.content.endswith("your video is ready.")

    # A button answers the member who clicked, in their language: alice may not delete bob's.
    [delete] = [custom_id for custom_id in result.custom_ids if custom_id.startswith("wan:delete")]
    click = await world.discord.click("alice", result, delete, locale=EN)
    refused = await reply_of(click)
    assert refused.content == (
        "Only the member who asked, or someone with Manage Messages, can delete this."
    )
    en_job = int(re.findall(r"#(\d+)", en_reply)[0])
    await world.wait_job(en_job, JobState.DELIVERED)
    theirs = await world.discord.wait_for_message(
        general, lambda m: footer(m) == f"wanbot job #{en_job} · result", timeout=30
    )
    [delete] = [custom_id for custom_id in theirs.custom_ids if custom_id.startswith("wan:delete")]
    refused = await reply_of(await world.discord.click("bob", theirs, delete, locale=ZH))
    assert refused.content == "只有发起请求的成员或拥有“管理消息”权限的人才能删除。"


@dataclass
class ChineseServer:
    guild: Guild
    general: Channel


@pytest_asyncio.fixture(loop_scope="module")
async def chinese_server(world: World) -> AsyncIterator[ChineseServer]:
    """A second server whose community language is Simplified Chinese (the bot is told)."""
    discord = world.discord

    def sent() -> int:
        connection = discord.gateway.connection
        return (
            sum(1 for _, name, _ in connection.sent if name == "GUILD_CREATE") if connection else 0
        )

    before = sent()
    guild = discord.add_guild("万象工作室", layout=True, preferred_locale=ZH)
    await wait_until(
        sent,
        done=lambda count: count > before,
        timeout=10,
        interval=0.01,
        message="the bot to be told of the zh-CN server",
    )
    general = guild.channel("general")
    # The server is known once a command there is answered as in a server.
    reply = await reply_of(await discord.slash("alice", general, "jobs list", locale=EN))
    assert reply.content == "You have no generations here yet."
    yield ChineseServer(guild, general)


async def test_public_posts_follow_the_server_s_language(
    world: World, chinese_server: ChineseServer
) -> None:
    en_reply = await _queued(world, "alice", chinese_server.general, EN)
    assert en_reply.startswith("Queued as job #")  # her own answer stays English
    job = int(re.findall(r"#(\d+)", en_reply)[0])
    status = await world.discord.wait_for_message(
        chinese_server.general, lambda m: footer(m) == f"wanbot job #{job} · status", timeout=15
    )
    fields = fields_of(status)
    assert {"请求者", "状态", "已用时间", "费用", "设置"} <= set(fields)
    assert fields["费用"] == "$0.10（估算）"
    assert [b.get("label") for b in status.buttons] == ["取消"]
    await world.wait_job(job, JobState.DELIVERED)
    result = await world.discord.wait_for_message(
        chinese_server.general, lambda m: footer(m) == f"wanbot job #{job} · result", timeout=30
    )
    assert result.content.endswith("你的视频已生成。")
    labels = [b.get("label") for b in result.buttons]
    assert labels[:3] == ["重试", "变体", "删除"]
    done = await world.discord.wait_for_message(
        chinese_server.general,
        lambda m: m.id == status.id and fields_of(m).get("状态") == "✅ 已完成",
        timeout=15,
    )
    assert done.buttons == []

    # /jobs show posts the result again publicly: in the server's language, asked in English.
    shown = await reply_of(
        await world.discord.slash("alice", chinese_server.general, "jobs show", {"job": job})
    )
    assert not shown.ephemeral
    assert {"设置", "种子", "费用", "原帖"} <= set(fields_of(shown))
    assert [b.get("label") for b in shown.buttons][:3] == ["重试", "变体", "删除"]


async def test_a_budget_refusal_and_a_staff_reply_in_each_language(world: World) -> None:
    staff_zh = await ephemeral_text(
        world, "staff", "general", "wanbot budget", {"user_daily": "0.05"}, locale=ZH
    )
    assert staff_zh.startswith("预算已更新；从下一次提交开始生效。")
    assert "**每人每日预算：** $0.05" in staff_zh.splitlines()
    # Members who have spent nothing here yet: each has all of the $0.05 left.
    li, dana = world.discord.add_user("li", roles=["member"]), world.discord.add_user("dana")
    try:
        options = {"prompt": "a cat surfing", "size": "624*624"}
        zh = await reply_of(await world.discord.slash(li, "general", "wan-t2v", options, locale=ZH))
        en = await reply_of(
            await world.discord.slash(dana, "general", "wan-t2v", options, locale=EN)
        )
        assert zh.content == (
            "这大约需要 $0.10，而你的每日预算 $0.05 只剩 $0.05。"
            "请换用更便宜的设置，或等到明天（UTC）。"
        )
        assert en.content == (
            "This would cost about $0.10, and you have $0.05 left of your $0.05 daily budget. "
            "Try a cheaper setting or wait until tomorrow (UTC)."
        )
    finally:
        await ephemeral_text(world, "staff", "general", "wanbot budget", {"user_daily": "none"})


async def test_the_operator_s_log_stays_english(world: World) -> None:
    """Every refusal above was logged, the Chinese ones too, in English (bot.i18n.Text)."""
    lines = world.bot.lines
    assert any("refused /wan-t2v" in line and "The prompt is empty" in line for line in lines)
    assert any(
        "refused /jobs cancel" in line and "There is no job #999999" in line for line in lines
    )
    chinese = [line for line in lines if re.search(r"[\u4e00-\u9fff]", line)]
    assert chinese == []


async def test_the_queue_and_approval_speak_the_member_s_language(world: World) -> None:
    """A zh-CN member past their job limit is queued in Chinese; a job above the approval
    threshold waits in Chinese, and a member who clicks Approve is refused in Chinese."""
    staff = "staff"
    await ephemeral_text(world, staff, "general", "wanbot limits", {"concurrent": 1, "queue": 1})
    world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 40000.0}})
    mei = world.discord.add_user("mei", roles=["member"])
    options = {"prompt": "a slow tide", "size": "832*480"}
    try:
        running = await reply_of(
            await world.discord.slash(mei, "general", "wan-t2v", options, locale=ZH)
        )
        first = int(re.findall(r"#(\d+)", running.content)[0])
        await world.wait_job(first, JobState.RUNNING)
        queued = await reply_of(
            await world.discord.slash(mei, "general", "wan-t2v", options, locale=ZH)
        )
        assert queued.content.startswith("已加入队列，任务 #")
        assert "（你的队列中的下一个）：你的生成名额已满" in queued.content
        full = await reply_of(
            await world.discord.slash(mei, "general", "wan-t2v", options, locale=ZH)
        )
        assert full.content == (
            "你已有 1 个生成正在进行、1 个在排队；上限为进行中 1 个、排队 1 个。"
            "请等待其中一个完成或取消一个（`/jobs list`）。"
        )
        for job in re.findall(r"#(\d+)", running.content + queued.content):
            await ephemeral_text(world, mei, "general", "jobs cancel", {"job": int(job)})

        await ephemeral_text(world, staff, "general", "wanbot audit-channel", {"channel": "audit"})
        await ephemeral_text(world, staff, "general", "wanbot approval", {"above": "0.05"})
        waiting = await reply_of(
            await world.discord.slash(mei, "general", "wan-t2v", options, locale=ZH)
        )
        assert (
            "正在等待管理人员批准：其预估费用（$0.10）高于本服务器的 $0.05 门槛" in waiting.content
        )
        job = int(re.findall(r"#(\d+)", waiting.content)[0])
        request = await world.discord.wait_for_message(
            "audit", lambda m: footer(m) == f"wanbot job #{job} · approval", timeout=15
        )
        [approve] = [c for c in request.custom_ids if c.startswith("wan:approve")]
        refused = await reply_of(await world.discord.click(mei, request, approve, locale=ZH))
        assert refused.content == "只有服务器管理人员（管理服务器权限）可以批准或拒绝请求。"
        await ephemeral_text(world, mei, "general", "jobs cancel", {"job": job})
    finally:
        world.sim.state.patch_config({"durations": {"wan2.2-t2v-plus": 90.0}})
        await ephemeral_text(world, staff, "general", "wanbot approval", {"above": "none"})
        await ephemeral_text(world, staff, "general", "wanbot audit-channel")
        await ephemeral_text(
            world, staff, "general", "wanbot limits", {"concurrent": 3, "queue": 3}
        )
