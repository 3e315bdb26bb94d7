"""Gateway shards in the emulator, with raw gateway sessions (no bot process): IDENTIFY with
``shard: [id, count]``, each session gets only its shard's guilds and their events, DMs go to
shard 0, an unsharded session gets everything, ``GET /gateway/bot`` recommends a shard count."""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.emulator import DiscordEmulator, EmulatorConfig
from tests.emulator.models import Guild
from tests.emulator.snowflakes import SnowflakeFactory, shard_of
from tests.waiting import wait_until

GUILDS = 1 << 0
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=500)) as emulator:
        yield emulator
        assert emulator.internal_errors == []


class RawSession:
    """One gateway connection without discord.py: IDENTIFY (as a shard or not), then every
    dispatch it receives, in order."""

    def __init__(self, emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.dispatches: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def identify(
        self, shard: list[int] | None = None, intents: int = GUILDS | GUILD_MESSAGES
    ) -> RawSession:
        self.ws = await self.http.ws_connect(self.emu.gateway_url + "?v=10&encoding=json")
        hello = json.loads((await self.ws.receive()).data)
        assert hello["op"] == 10
        data: dict[str, Any] = {"token": self.emu.token, "intents": intents, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await self.ws.send_str(json.dumps({"op": 2, "d": data}))
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if frame["op"] == 0:
                    self.dispatches.append(frame)
                    self._changed.set()
        self._changed.set()

    async def wait_for(self, event: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every dispatch of ``event`` so far, once there is at least one."""

        def found() -> list[dict[str, Any]]:
            return [frame["d"] for frame in self.dispatches if frame["t"] == event]

        async def changed() -> bool:
            self._changed.clear()
            return await self._changed.wait()

        return await wait_until(
            found, timeout=timeout, interval=0.05, message=f"a {event} dispatch", wake=changed
        )

    def events(self, event: str) -> list[dict[str, Any]]:
        return [frame["d"] for frame in self.dispatches if frame["t"] == event]

    def guild_ids(self) -> set[int]:
        return {int(d["id"]) for d in self.events("GUILD_CREATE")}

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the emulator closes the connection; its close code."""
        assert self.ws is not None
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.ws.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(
    emu: DiscordEmulator, http: aiohttp.ClientSession, shard: list[int] | None, **kwargs: Any
) -> RawSession:
    return await RawSession(emu, http).identify(shard, **kwargs)


async def register_ping(emu: DiscordEmulator) -> None:
    headers = {"Authorization": f"Bot {emu.token}"}
    body = [{"name": "ping", "description": "Ping", "type": 1}]
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.put(f"{emu.api_url}/applications/{emu.application_id}/commands", json=body) as r,
    ):
        assert r.status == 200


def server(emu: DiscordEmulator, name: str, shard: int, count: int) -> Guild:
    """A server on ``shard`` of ``count``, laid out as the default one (#general, alice...)."""
    guild = emu.add_guild(name, shard=(shard, count), layout=True)
    assert shard_of(guild.id, count) == guild.shard(count) == shard
    return guild


def test_snowflakes_can_be_made_on_a_chosen_shard() -> None:
    ids = SnowflakeFactory()
    made = [ids.next(shard=(k % 4, 4)) for k in range(12)] + [ids.next()]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert [shard_of(i, 4) for i in made[:12]] == [0, 1, 2, 3] * 3
    with pytest.raises(ValueError, match="shard"):
        ids.next(shard=(4, 4))


async def test_gateway_bot_recommends_the_configured_shard_count(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bot {emu.token}"}
    async with http.get(emu.api_url + "/gateway/bot", headers=headers) as answer:
        body = await answer.json()
    assert body["shards"] == 1
    assert body["session_start_limit"]["max_concurrency"] == 1
    emu.config.gateway_shards = 4
    emu.config.max_concurrency = 2
    await (await connect(emu, http, [0, 4])).close()
    async with http.get(emu.api_url + "/gateway/bot", headers=headers) as answer:
        body = await answer.json()
    assert body["url"] == emu.gateway_url
    assert body["shards"] == 4
    limit = body["session_start_limit"]
    assert limit["max_concurrency"] == 2
    assert limit["total"] - limit["remaining"] == 1  # one IDENTIFY made so far


async def test_two_shards_receive_disjoint_guilds(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    on_0 = [server(emu, f"zero {i}", 0, 2) for i in range(2)]
    on_1 = [server(emu, f"one {i}", 1, 2) for i in range(2)]
    first = await connect(emu, http, [0, 2])
    second = await connect(emu, http, [1, 2])
    sessions = await emu.wait_shards(2, timeout=5)
    assert sorted(sessions) == [0, 1]
    assert sessions[0].shard == (0, 2)
    assert sessions[1].shard == (1, 2)
    assert emu.gateway.shard(1) is sessions[1]
    everything = set(emu.guilds)
    expected = {k: {g for g in everything if (g >> 22) % 2 == k} for k in (0, 1)}
    assert {g.id for g in on_0} <= expected[0]
    assert {g.id for g in on_1} <= expected[1]
    for session, shard in ((first, 0), (second, 1)):
        [ready] = session.events("READY")
        assert ready["shard"] == [shard, 2]
        assert {int(g["id"]) for g in ready["guilds"]} == expected[shard]
        assert session.guild_ids() == expected[shard]
        assert sessions[shard].guild_ids == expected[shard]
    assert expected[0] | expected[1] == everything
    await first.close()
    await second.close()


async def test_guild_events_reach_only_the_owning_shard_and_dms_shard_zero(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    await register_ping(emu)
    zero, one = server(emu, "zero", 0, 2), server(emu, "one", 1, 2)
    intents = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES
    first = await connect(emu, http, [0, 2], intents=intents)
    second = await connect(emu, http, [1, 2], intents=intents)
    await emu.wait_shards(2, timeout=5)
    # An interaction in a server on shard 1 reaches shard 1's session, and only that one.
    itx = await emu.slash("alice", one.channels["general"], "ping")
    [delivered] = await second.wait_for("INTERACTION_CREATE")
    assert delivered["id"] == str(itx.id)
    assert delivered["guild_id"] == str(one.id)
    # A member's message on shard 0; a new channel on shard 1; a new server on shard 0.
    await emu.send_user_message("bob", zero.channels["general"], "hello")
    one.add_channel("news")
    late = emu.add_guild("late", shard=(0, 2))
    [message] = await first.wait_for("MESSAGE_CREATE")
    assert message["guild_id"] == str(zero.id)
    [channel] = await second.wait_for("CHANNEL_CREATE")
    assert channel["name"] == "news"
    await wait_until(lambda: late.id in first.guild_ids(), timeout=5, message="late's create")
    # A DM (no server) goes to shard 0.
    dm = await emu.slash("alice", emu.dm_channel("alice"), "ping")
    dms = await first.wait_for("INTERACTION_CREATE")
    assert [d["id"] for d in dms] == [str(dm.id)]
    await asyncio.sleep(0.2)  # anything misrouted would have arrived by now
    assert [d["id"] for d in second.events("INTERACTION_CREATE")] == [str(itx.id)]
    assert second.events("MESSAGE_CREATE") == []
    assert first.events("CHANNEL_CREATE") == []
    assert late.id not in second.guild_ids()
    assert emu.gateway.shard(0).events.count(("INTERACTION_CREATE", None)) == 1
    assert ("INTERACTION_CREATE", one.id) in emu.gateway.shard(1).events
    await first.close()
    await second.close()


async def test_an_interaction_for_a_shard_nobody_runs_is_an_error(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    await register_ping(emu)
    one = server(emu, "one", 1, 2)
    only = await connect(emu, http, [0, 2])
    await emu.wait_shards(2, timeout=5, shards=[0])
    with pytest.raises(RuntimeError, match="shard 1"):
        await emu.slash("alice", one.channels["general"], "ping")
    await only.close()


async def test_an_unsharded_session_gets_every_guild_and_event(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    await register_ping(emu)
    zero, one = server(emu, "zero", 0, 2), server(emu, "one", 1, 2)
    plain = await connect(emu, http, None)
    session = await emu.wait_ready(5)
    assert session.shard is None
    [ready] = plain.events("READY")
    assert "shard" not in ready
    assert plain.guild_ids() == set(emu.guilds) == {emu.guild.id, zero.id, one.id}
    await emu.slash("alice", zero.channels["general"], "ping")
    await emu.slash("alice", one.channels["general"], "ping")
    await emu.slash("alice", "general", "ping")
    assert len(await plain.wait_for("INTERACTION_CREATE")) >= 1
    await wait_until(
        lambda: len(plain.events("INTERACTION_CREATE")) == 3, timeout=5, message="3 interactions"
    )
    await plain.close()


async def test_a_new_identify_replaces_only_its_own_shard(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    first = await connect(emu, http, [0, 2])
    second = await connect(emu, http, [1, 2])
    before = await emu.wait_shards(2, timeout=5)
    again = await connect(emu, http, [1, 2])  # shard 1's process restarted
    after = await emu.wait_shards(2, timeout=5, identifies=3)
    assert after[0] is before[0]
    assert after[1] is not before[1]
    assert emu.gateway.identifies == 3
    # The replaced session can no longer resume; shard 0's still can.
    for old, code in ((before[1], 9), (before[0], 0)):
        async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
            await ws.receive()  # HELLO
            resume = {"token": emu.token, "session_id": old.id, "seq": old.seq}
            await ws.send_str(json.dumps({"op": 6, "d": resume}))
            answer = json.loads((await ws.receive()).data)
            assert answer["op"] == code, answer
    for raw in (first, second, again):
        await raw.close()


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], ["0", 2], [0]])
async def test_an_invalid_shard_is_refused(
    emu: DiscordEmulator, http: aiohttp.ClientSession, shard: list[Any]
) -> None:
    raw = await connect(emu, http, shard)
    assert await raw.closed() == 4010  # Invalid shard
    assert emu.gateway.identifies == 0
