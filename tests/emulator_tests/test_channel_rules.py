"""Channel rules as a real discord.py bot meets them: the per-channel write limit (discord.py
paces itself from the bucket headers), Attach Files denied in one channel, a deleted channel,
and a direct message."""

from __future__ import annotations

import pytest

from tests.emulator import BotProcess, DiscordEmulator, InteractionRefused
from tests.emulator.permissions import ATTACH_FILES
from tests.emulator.write_limits import ChannelWrites, Window

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def burst(emulator: DiscordEmulator, window: Window) -> tuple[ChannelWrites, int, float]:
    """``/burst 8`` (8 sends at once, then 8 edits at once) under 5 writes a second: the
    channel's record, where this burst's writes start in it, and when the burst began."""
    emulator.rules.channel_write_limit = (5, 1.0)
    emulator.rules.channel_write_window = window
    general = emulator.guild.channels["general"]
    writes = emulator.channel_writes(general)
    before, limited, started = len(writes.accepted), writes.rate_limited, emulator.state.now()
    itx = await emulator.slash("alice", general, "burst", {"count": 8})
    [done] = await itx.followups(1, timeout=30)
    assert done.content == "burst sent 8 edited 8"
    shown = emulator.messages(general, include_ephemeral=False)
    burst = [m for m in shown if m.content.startswith("burst ") and m.created_at >= started]
    assert sorted(m.content for m in burst) == sorted(f"burst {i} (edited)" for i in range(8))
    assert len(writes.accepted) - before == 16
    # 16 writes at 5 a second: at least three windows waited out.
    assert writes.accepted[-1] - started >= 3.0
    return writes, writes.rate_limited - limited, started


async def test_discord_py_paces_itself_under_the_write_limit(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    """Fixed windows, as Discord: discord.py waits out Reset-After and is never refused (the
    three write routes share one bucket hash, so the edits' bucket is the sends')."""
    writes, limited, started = await burst(emulator, "fixed")
    assert limited == 0
    ours = ChannelWrites(writes.channel_id, [t for t in writes.accepted if t >= started])
    # Up to 5 at the end of one window and 5 at the start of the next: never more.
    assert ours.max_in_window(1.0) <= 10


async def test_sliding_window_never_holds_more_than_the_limit(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    writes, limited, started = await burst(emulator, "sliding")
    ours = ChannelWrites(writes.channel_id, [t for t in writes.accepted if t >= started])
    assert ours.max_in_window(1.0) <= 5
    # discord.py paces on Reset-After alone, so a few boundary refusals of a few ms are normal.
    assert limited <= 4


async def test_attach_files_denied_in_one_channel(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    bot_role = emulator.guild.roles[emulator.bot_user.username]
    emulator.set_permissions("general", bot_role, deny=ATTACH_FILES)
    try:
        await sample_bot.wait_for_output("SAMPLE CHANNEL UPDATED general attach_files=False")
        itx = await emulator.slash("alice", "general", "upload-here", {})
        [answer] = await itx.followups(1, timeout=15)
        assert answer.content == "text ok; file refused 403 50013"
        assert int(itx.payload["app_permissions"]) & ATTACH_FILES == 0
        itx = await emulator.slash("alice", "nsfw-art", "upload-here", {})
        [answer] = await itx.followups(1, timeout=15)
        assert answer.content == "text ok; file ok"
    finally:
        emulator.set_permissions("general", bot_role)
    await sample_bot.wait_for_output("SAMPLE CHANNEL UPDATED general attach_files=True")


async def test_deleted_channel_reaches_the_bot(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    doomed = emulator.guild.add_channel("doomed", category="Text Channels")
    itx = await emulator.slash("alice", doomed, "post", {"text": "last words"})
    await itx.followups(1, timeout=15)
    emulator.delete_channel(doomed)
    await sample_bot.wait_for_output(f"SAMPLE CHANNEL DELETED doomed {doomed.id}")
    posted = emulator.messages(doomed, include_ephemeral=False)
    assert [m.content for m in posted] == ["last words (edited)"]
    with pytest.raises(InteractionRefused):
        await emulator.slash("alice", doomed, "post", {"text": "anyone?"})


async def test_direct_message(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("bob", "general", "dm-me", {"text": "hello bob"})
    [answer] = await itx.followups(1, timeout=15)
    dm = emulator.dm_channel("bob")
    assert answer.content == f"dm sent in {dm.id}"
    [message] = emulator.dm_messages("bob")
    assert (message.content, message.author_id) == ("hello bob", emulator.bot_user.id)
    opened = emulator.requests.matching("POST /users/@me/channels")
    assert str(opened[-1].json["recipient_id"]) == str(emulator.users["bob"].id)
