"""Start-up against the emulator: REST log-in calls, command sync, the zlib-stream gateway
handshake, what discord.py builds from READY/GUILD_CREATE, and unknown routes."""

from __future__ import annotations

import pytest

from tests.emulator import BotProcess, DiscordEmulator, InteractionRefused

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_startup_rest_calls_then_gateway(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    first = [(r.method, r.route) for r in emulator.requests[:4]]
    assert first == [
        ("GET", "GET /users/@me"),
        ("GET", "GET /oauth2/applications/@me"),
        ("PUT", "PUT /applications/{application_id}/commands"),
        ("PUT", "PUT /applications/{application_id}/guilds/{guild_id}/commands"),
    ]
    assert all(
        r.headers.get("Authorization") == f"Bot {emulator.token}" for r in emulator.requests[:4]
    )


async def test_gateway_handshake_uses_zlib_stream(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    conn = emulator.gateway.connection
    assert conn is not None
    assert conn.path == "/ws"
    assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert conn.compress == "zlib-stream"
    identify = next(p for p in conn.received if p["op"] == 2)["d"]
    assert identify["token"] == emulator.token
    assert identify["intents"] & 1  # GUILDS
    # HELLO first, then READY (s=1) and one GUILD_CREATE per guild, in sequence. A heartbeat
    # ACK (op 11) may come between them: discord.py's first heartbeat leaves after a random
    # fraction of the interval, sometimes before READY, as against real Discord.
    assert conn.sent[0] == (10, None, None)
    dispatches = [sent for sent in conn.sent if sent[0] == 0]
    assert dispatches[:2] == [(0, "READY", 1), (0, "GUILD_CREATE", 2)], conn.sent
    assert {sent[0] for sent in conn.sent[1:]} <= {0, 11}, conn.sent
    await sample_bot.wait_for_output("SAMPLE READY", 10)
    assert conn.heartbeats >= 1
    assert (11, None, None) in conn.sent  # heartbeats acknowledged
    assert "Can't keep up" not in sample_bot.output
    assert "Traceback" not in sample_bot.output


async def test_command_sync_keeps_the_full_schema(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    put = emulator.requests.matching("PUT /applications/{application_id}/commands")[0]
    assert {c["name"] for c in put.json} >= {"render", "describe", "admin", "size-pick"}
    describe = emulator.command("describe")
    assert describe["options"] == [
        {"type": 11, "name": "image", "description": "…", "required": True}
    ]
    size = next(o for o in emulator.command("size-pick")["options"] if o["name"] == "size")
    assert size["autocomplete"] is True
    admin = emulator.command("admin")
    assert admin["default_member_permissions"] == str(1 << 5)
    jobs = admin["options"][0]
    assert (jobs["type"], jobs["name"]) == (2, "jobs")
    cancel = jobs["options"][0]
    assert (cancel["type"], cancel["name"]) == (1, "cancel")
    assert [(o["name"], o["type"], o.get("min_value")) for o in cancel["options"]] == [
        ("job", 4, 1),
        ("who", 6, None),
    ]
    assert [c["name"] for c in emulator.commands(emulator.guild)] == ["guild-ping"]
    assert emulator.command("guild-ping")["guild_id"] == str(emulator.guild.id)
    assert len({c["id"] for c in emulator.commands()}) == len(emulator.commands())


async def test_discord_py_sees_the_default_guild(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    itx = await emulator.slash("alice", "general", "whoami", locale="fr")
    response = await itx.response()
    assert response.type == 4
    assert response.data["flags"] == 64
    text = response.data["content"]
    for part in (
        "user=alice",
        "nsfw=False",
        "manage_guild=False",
        "roles=['@everyone', 'member']",
        "limit=10485760",
        "attach=True",
        "channels=['audit', 'general', 'nsfw-art']",
        "members=5",
        "me=True",
        "locale=fr",
    ):
        assert part in text
    assert itx.original().ephemeral
    staff = await (await emulator.slash("staff", "nsfw-art", "whoami")).response()
    assert "nsfw=True" in staff.data["content"]
    assert "manage_guild=True" in staff.data["content"]


async def test_interaction_payload_shape(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("staff", "general", "admin jobs cancel", {"job": 7, "who": "bob"})
    response = await itx.response()
    assert response.data["content"] == "cancelled 7 for bob"
    payload = itx.payload
    assert payload["type"] == 2
    assert "user" not in payload
    assert payload["member"]["user"]["username"] == "staff"
    assert int(payload["member"]["permissions"]) & (1 << 5)
    assert payload["authorizing_integration_owners"] == {"0": str(emulator.guild.id)}
    assert payload["attachment_size_limit"] == 10 * 1024 * 1024
    data = payload["data"]
    assert data["options"][0]["options"][0]["options"] == [
        {"type": 4, "name": "job", "value": 7},
        {"type": 6, "name": "who", "value": str(emulator.users["bob"].id)},
    ]
    assert str(emulator.users["bob"].id) in data["resolved"]["members"]


async def test_client_side_refusals(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    with pytest.raises(InteractionRefused, match="hidden"):
        await emulator.slash("alice", "general", "admin jobs cancel", {"job": 1})
    with pytest.raises(InteractionRefused, match="outside"):
        await emulator.slash("staff", "general", "admin jobs cancel", {"job": 0})
    with pytest.raises(InteractionRefused, match="missing required"):
        await emulator.slash("alice", "general", "describe")
    with pytest.raises(InteractionRefused, match="not one of the choices"):
        await emulator.slash("alice", "general", "long", {"kind": "poem"})


async def test_guild_command(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("bob", "general", "guild-ping")
    assert itx.payload["data"]["guild_id"] == str(emulator.guild.id)
    response = await itx.response()
    assert response.data["content"] == f"pong from guild {emulator.guild.id}"
    message = itx.original()
    assert message.data["type"] == 20
    assert message.data["interaction_metadata"]["user"]["username"] == "bob"


async def test_unknown_route_is_recorded(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    general = emulator.guild.channels["general"]
    itx = await emulator.slash("alice", general, "pins")
    response = await itx.response()
    assert response.data["content"] == "pins failed 404"
    unknown = emulator.unknown_routes[-1]
    assert unknown.method == "GET"
    assert unknown.path.startswith(f"/channels/{general.id}/")
    assert unknown.status == 404
    assert unknown.response == {"message": "404: Not Found", "code": 0}
