"""The bot's connection under stress: forced disconnects resume with replay, lost sessions
identify again, and a SIGKILLed bot restarts into a new session with its buttons working."""

from __future__ import annotations

import pytest

from tests.emulator import BotProcess, DiscordEmulator

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_forced_disconnect_resumes_and_replays(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    session = await emulator.wait_ready()
    before = emulator.gateway.resumes
    await emulator.gateway.disconnect(code=4000)
    # Sent while the bot is away: kept in the session and replayed on RESUME.
    itx = await emulator.slash("alice", "general", "size-pick", {"size": "832*480"})
    response = await itx.response(timeout=8)
    assert response.data["content"] == "size 832*480 x1"
    assert emulator.gateway.resumes == before + 1
    assert emulator.gateway.identifies == 1
    conn = emulator.gateway.connection
    assert conn is not None
    assert conn.path == "/ws-resume"  # READY's resume_gateway_url
    assert conn.compress == "zlib-stream"
    resume = next(p for p in conn.received if p["op"] == 6)["d"]
    assert resume["session_id"] == session.id
    replayed = [t for op, t, _ in conn.sent if op == 0]
    assert "INTERACTION_CREATE" in replayed[: replayed.index("RESUMED")]
    sequences = [s for op, _, s in conn.sent if op == 0]
    assert sequences == sorted(sequences)
    assert resume["seq"] + 1 == sequences[0]
    await sample_bot.wait_for_output("SAMPLE RESUMED", 5)


async def test_dropped_connection_resumes(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    before = emulator.gateway.resumes
    await emulator.gateway.drop()
    itx = await emulator.slash("bob", "general", "size-pick", {"size": "480*832"})
    assert (await itx.response(timeout=8)).data["content"] == "size 480*832 x1"
    assert emulator.gateway.resumes == before + 1


async def test_reconnect_request_resumes(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    before = emulator.gateway.resumes
    session_id = emulator.gateway.session_id
    await emulator.gateway.request_reconnect()
    itx = await emulator.slash("bob", "general", "size-pick", {"size": "1920*1080"})
    assert (await itx.response(timeout=8)).data["content"] == "size 1920*1080 x1"
    assert emulator.gateway.resumes == before + 1
    assert emulator.gateway.session_id == session_id


async def test_invalid_session_makes_the_bot_identify_again(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    # discord.py waits 5 s before any IDENTIFY that is not its first (before_identify_hook).
    old = emulator.gateway.session_id
    await emulator.gateway.invalidate_session(resumable=False)
    session = await emulator.wait_ready(10, identifies=2)
    assert session.id != old
    itx = await emulator.slash("alice", "general", "size-pick", {"size": "1024*1024"})
    assert (await itx.response(timeout=5)).data["content"] == "size 1024*1024 x1"


async def test_sigkill_and_restart_keeps_state_and_buttons(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    itx = await emulator.slash("alice", "general", "render", {"prompt": "survives"})
    message = (await itx.followups(1))[0]
    old_session = emulator.gateway.session_id
    old_pid = sample_bot.pid
    identifies = emulator.gateway.identifies
    commands_before = emulator.commands()

    await sample_bot.kill()
    await sample_bot.start()
    session = await emulator.wait_ready(20, identifies=identifies + 1)

    assert session.id != old_session
    assert emulator.gateway.connection.path == "/ws"
    assert [c["id"] for c in emulator.commands()] == [c["id"] for c in commands_before]
    assert emulator.message(message.id).content == "done: survives"
    click = await emulator.click("bob", message, message.custom_ids[0])
    response = await click.response(timeout=5)
    assert response.data["content"] == (f"again job {itx.id % 100000} for bob pid {sample_bot.pid}")
    assert sample_bot.pid != old_pid
