"""The emulator's wire protocol without a bot process: REST headers and errors, the
zlib-stream gateway, payloads discord.py parses, the CDN, message rules, the per-channel write
limit, permission overwrites, deleted channels and DMs."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
from PIL import Image

from tests.emulator import DiscordEmulator, EmulatorConfig, InteractionRefused
from tests.emulator.permissions import ATTACH_FILES, SEND_MESSAGES, Overwrite
from tests.emulator.write_limits import ChannelWrites


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=500)) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest_asyncio.fixture
async def http(emu: DiscordEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession(emu.api_url + "/", headers=headers) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.request(method, path.lstrip("/"), **kwargs) as response:
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None, response


class ZlibGateway:
    """A minimal gateway client: one inflate context, frames end with Z_SYNC_FLUSH."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inflate = zlib.decompressobj()

    async def receive(self) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.BINARY, msg
        assert msg.data.endswith(b"\x00\x00\xff\xff")
        return json.loads(self.inflate.decompress(msg.data))

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(payload))


async def test_rest_answers_look_like_discord(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    status, body, response = await call(http, "GET", "/users/@me")
    assert status == 200
    assert response.headers["Content-Type"] == "application/json"  # no charset
    assert response.headers["Via"]
    assert response.headers["X-RateLimit-Bucket"]
    assert body["id"] == str(emu.bot_user.id)
    assert body["bot"] is True
    status, body, _ = await call(http, "GET", "/users/@me", headers={"Authorization": "Bot x"})
    assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})
    status, body, _ = await call(http, "DELETE", "/gateway")
    assert (status, body["code"]) == (405, 0)
    status, body, _ = await call(http, "GET", "/channels/1/pins/nope")
    assert (status, body) == (404, {"message": "404: Not Found", "code": 0})
    assert [r.path for r in emu.unknown_routes] == ["/channels/1/pins/nope"]
    status, body, _ = await call(http, "GET", "/channels/12345")
    assert (status, body) == (404, {"message": "Unknown Channel", "code": 10003})
    status, body, _ = await call(http, "GET", "/gateway/bot")
    assert body["url"] == emu.gateway_url
    assert len(emu.requests) == 6


async def test_injected_429_and_5xx(emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
    emu.rules.inject_429("GET /users/@me", n=1, retry_after=0.25)
    emu.rules.inject_5xx("/gateway", n=1, status=503)
    status, body, response = await call(http, "GET", "/users/@me")
    assert status == 429
    assert body == {
        "message": "You are being rate limited.",
        "retry_after": 0.25,
        "global": False,
        "code": 0,
    }
    assert response.headers["Via"]
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Reset-After"] == "0.250"
    assert (await call(http, "GET", "/users/@me"))[0] == 200
    assert (await call(http, "GET", "/gateway"))[0] == 503
    assert (await call(http, "GET", "/gateway"))[0] == 200


async def test_zlib_stream_gateway_handshake(emu: DiscordEmulator) -> None:
    url = emu.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        gateway = ZlibGateway(ws)
        hello = await gateway.receive()
        assert hello == {
            "op": 10,
            "s": None,
            "t": None,
            "d": {"heartbeat_interval": 500, "_trace": hello["d"]["_trace"]},
        }
        await gateway.send({"op": 1, "d": None})
        assert (await gateway.receive())["op"] == 11
        await gateway.send({"op": 2, "d": {"token": emu.token, "intents": 1 | 2, "properties": {}}})
        ready = await gateway.receive()
        assert (ready["t"], ready["s"]) == ("READY", 1)
        assert ready["d"]["resume_gateway_url"] == emu.gateway_url.replace("/ws", "/ws-resume")
        assert ready["d"]["application"]["id"] == str(emu.application_id)
        create = await gateway.receive()
        assert (create["t"], create["s"]) == ("GUILD_CREATE", 2)
        members = create["d"]["members"]
        assert [m["user"]["id"] for m in members] == [str(emu.bot_user.id)]
        await gateway.send(
            {"op": 8, "d": {"guild_id": str(emu.guild.id), "query": "", "limit": 0, "nonce": "n1"}}
        )
        chunk = await gateway.receive()
        assert chunk["t"] == "GUILD_MEMBERS_CHUNK"
        assert chunk["d"]["nonce"] == "n1"
        assert {m["user"]["username"] for m in chunk["d"]["members"]} == {
            "owner",
            "WanBot",
            "alice",
            "bob",
            "staff",
        }
        other = emu.add_guild("Other")
        created = await gateway.receive()
        assert (created["t"], created["d"]["id"]) == ("GUILD_CREATE", str(other.id))
        carol = emu.add_user("carol")
        added = await gateway.receive()
        assert (added["t"], added["d"]["user"]["id"]) == ("GUILD_MEMBER_ADD", str(carol.id))
        assert added["s"] == created["s"] + 1


async def test_gateway_refusals_and_plain_text(emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
            hello = await ws.receive()
            assert hello.type is aiohttp.WSMsgType.TEXT
            await ws.send_str(json.dumps({"op": 2, "d": {"token": "wrong"}}))
            closed = await ws.receive()
            assert closed.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4004
        async with session.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
            await ws.receive()
            await ws.send_str(
                json.dumps({"op": 6, "d": {"token": emu.token, "session_id": "nope", "seq": 3}})
            )
            invalid = json.loads((await ws.receive()).data)
            assert invalid == {"op": 9, "d": False, "s": None, "t": None}


async def test_payloads_parse_in_discord_py(emu: DiscordEmulator) -> None:
    """READY, GUILD_CREATE, a message and an interaction go through discord.py's parsers."""
    client = discord.Client(intents=discord.Intents.all())
    state = client._connection
    state.parse_ready(emu.gateway._ready_payload(type("S", (), {"id": "abc"})(), {}))  # type: ignore[arg-type]
    guild_payload = emu.guild.create_payload(bot_id=emu.bot_user.id, all_members=True)
    state.parse_guild_create(guild_payload)
    guild = client.get_guild(emu.guild.id)
    assert guild is not None
    assert guild.member_count == 5
    assert {c.name for c in guild.text_channels} == {"general", "nsfw-art", "audit"}
    assert guild.get_channel(emu.guild.channels["nsfw-art"].id).is_nsfw()
    assert guild.categories[0].name == "Text Channels"
    staff = guild.get_member(emu.users["staff"].id)
    assert staff.guild_permissions.manage_guild
    assert staff.guild_permissions.manage_messages
    assert not guild.get_member(emu.users["alice"].id).guild_permissions.manage_guild
    me = guild.me
    audit = guild.get_channel(emu.guild.channels["audit"].id)
    perms = audit.permissions_for(me)
    assert perms.send_messages
    assert perms.embed_links
    assert perms.attach_files
    assert not audit.permissions_for(guild.get_member(emu.users["alice"].id)).view_channel
    # A user message with an attachment, as MESSAGE_CREATE / REST returns it.
    sent = await emu.send_user_message(
        "alice", "general", f"hello <@{emu.bot_user.id}>", attachments=[("pic.png", png(8, 8))]
    )
    message = discord.Message(
        state=state,
        channel=guild.get_channel(sent.channel_id),
        data=emu.state.messages.render(sent),
    )
    assert message.attachments[0].width == 8
    assert message.mentions[0].id == emu.bot_user.id
    await client.close()


async def test_cdn_urls_are_signed_and_expire(emu: DiscordEmulator) -> None:
    attachment = emu.cdn.add("clip.mp4", b"\x00\x00\x00\x18ftypmp42", channel=123)
    assert attachment["content_type"] == "video/mp4"
    assert "/cdn/attachments/123/" in attachment["url"]
    async with aiohttp.ClientSession() as session:
        async with session.get(attachment["url"]) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "video/mp4"
        async with session.get(attachment["url"].split("?")[0]) as answer:
            assert answer.status == 404
        emu.cdn.expire(attachment)
        async with session.get(attachment["url"]) as answer:
            assert answer.status == 404
            assert await answer.text() == "This content is no longer available."


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, format="PNG")
    return out.getvalue()


async def test_channel_message_rules(emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
    general = emu.guild.channels["general"].id
    path = f"/channels/{general}/messages"
    status, first, _ = await call(
        http,
        "POST",
        path,
        json={
            "content": f"hi @everyone <@{emu.users['bob'].id}>",
            "nonce": "42",
            "enforce_nonce": True,
            "allowed_mentions": {"parse": ["users"]},
        },
    )
    assert status == 200
    assert first["mention_everyone"] is False
    assert [u["username"] for u in first["mentions"]] == ["bob"]
    status, again, _ = await call(
        http, "POST", path, json={"content": "hi again", "nonce": "42", "enforce_nonce": True}
    )
    assert again["id"] == first["id"]  # deduplicated
    status, reply, _ = await call(
        http,
        "POST",
        path,
        json={"content": "a reply", "message_reference": {"message_id": first["id"]}},
    )
    assert reply["type"] == 19
    assert reply["referenced_message"]["id"] == first["id"]
    status, body, _ = await call(
        http, "POST", path, json={"content": "x", "message_reference": {"message_id": "1"}}
    )
    assert body["errors"]["message_reference"]["_errors"][0]["code"] == (
        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
    )
    assert (await call(http, "POST", path, json={}))[1]["code"] == 50006
    status, body, _ = await call(
        http,
        "POST",
        path,
        json={"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
    )
    assert body["errors"] == {
        "embeds": {
            "_errors": [
                {
                    "code": "MAX_EMBED_SIZE_EXCEEDED",
                    "message": "Embed size exceeds maximum size of 6000",
                }
            ]
        }
    }
    status, body, _ = await call(http, "POST", path, json={"embeds": [{"title": "t"}] * 11})
    assert body["errors"]["embeds"]["_errors"][0]["message"] == "Must be 10 or fewer in length."
    rows = [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": f"b{i}"}]}
        for i in range(6)
    ]
    status, body, _ = await call(http, "POST", path, json={"content": "x", "components": rows})
    assert body["errors"]["components"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    for i in range(3):
        await call(http, "POST", path, json={"content": f"m{i}"})
    status, page, _ = await call(http, "GET", path, params={"limit": "2"})
    assert [m["content"] for m in page] == ["m2", "m1"]
    status, page, _ = await call(http, "GET", path, params={"limit": "2", "after": first["id"]})
    assert [m["content"] for m in page] == ["m0", "a reply"]
    status, page, _ = await call(http, "GET", path, params={"before": page[0]["id"]})
    assert [m["content"] for m in page] == ["a reply", f"hi @everyone <@{emu.users['bob'].id}>"]


async def test_permissions_and_upload_limit(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    bot_role = emu.guild.roles[emu.bot_user.username]
    muted = emu.guild.add_channel(
        "muted", overwrites=[Overwrite(id=bot_role.id, type=0, deny=SEND_MESSAGES)]
    )
    status, body, _ = await call(
        http, "POST", f"/channels/{muted.id}/messages", json={"content": "x"}
    )
    assert (status, body["code"]) == (403, 50013)
    emu.rules.set_upload_limit(emu.guild, 100)
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json",
        json.dumps({"attachments": [{"id": 0, "filename": "a.bin"}]}),
        content_type="application/json",
    )
    form.add_field("files[0]", b"x" * 101, filename="a.bin")
    path = f"/channels/{emu.guild.channels['general'].id}/messages"
    status, body, _ = await call(http, "POST", path, data=form)
    assert (status, body) == (413, {"message": "Request entity too large", "code": 40005})
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json",
        json.dumps(
            {
                "content": "file",
                "attachments": [{"id": 0, "filename": "ok.bin", "description": "fits"}],
            }
        ),
        content_type="application/json",
    )
    form.add_field("files[0]", b"y" * 100, filename="ok.bin")
    status, body, _ = await call(http, "POST", path, data=form)
    assert status == 200
    [attachment] = body["attachments"]
    assert (attachment["size"], attachment["description"]) == (100, "fits")
    assert emu.attachment_bytes(attachment) == b"y" * 100
    status, _, _ = await call(http, "DELETE", f"{path}/{body['id']}")
    assert status == 204
    assert emu.messages("general", include_deleted=True)[-1].deleted
    assert (await call(http, "GET", f"{path}/{body['id']}"))[1]["code"] == 10008


async def test_command_overwrite_validation_and_stable_ids(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    path = f"/applications/{emu.application_id}/commands"
    status, body, _ = await call(
        http, "PUT", path, json=[{"name": "Bad Name", "description": "x", "type": 1}]
    )
    assert (status, body["code"]) == (400, 50035)
    assert body["errors"]["0"]["name"]["_errors"][0]["code"] == ("APPLICATION_COMMAND_INVALID_NAME")
    commands = [
        {"name": "one", "description": "first", "type": 1},
        {
            "name": "two",
            "description": "second",
            "type": 1,
            "options": [{"name": "opt", "description": "o", "type": 3, "required": True}],
        },
    ]
    status, first, _ = await call(http, "PUT", path, json=commands)
    status, second, _ = await call(http, "PUT", path, json=commands[1:])
    assert second[0]["id"] == first[1]["id"]
    assert [c["name"] for c in emu.commands()] == ["two"]
    assert emu.commands()[0]["options"][0]["required"] is True


def upload_form(filename: str, data: bytes, content: str = "") -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json",
        json.dumps({"content": content, "attachments": [{"id": 0, "filename": filename}]}),
        content_type="application/json",
    )
    form.add_field("files[0]", data, filename=filename)
    return form


async def test_channel_write_limit_answers_like_discord(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    general, audit = emu.guild.channels["general"], emu.guild.channels["audit"]
    path = f"/channels/{general.id}/messages"
    assert emu.rules.channel_write_limit is None  # off unless a test turns it on
    emu.rules.channel_write_limit = (3, 0.5)
    status, first, response = await call(http, "POST", path, json={"content": "one"})
    assert status == 200
    headers = response.headers
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("3", "2")
    assert headers["X-RateLimit-Reset-After"] == "0.500"
    assert float(headers["X-RateLimit-Reset"]) > time.time()
    bucket = headers["X-RateLimit-Bucket"]
    # Edits and deletes share the bucket (one hash); reads are not writes.
    status, _, response = await call(
        http, "PATCH", f"{path}/{first['id']}", json={"content": "one (edited)"}
    )
    assert (status, response.headers["X-RateLimit-Bucket"]) == (200, bucket)
    assert response.headers["X-RateLimit-Remaining"] == "1"
    assert (await call(http, "GET", path))[0] == 200
    status, _, response = await call(http, "DELETE", f"{path}/{first['id']}")
    assert (status, response.headers["X-RateLimit-Remaining"]) == (204, "0")
    status, body, response = await call(http, "POST", path, json={"content": "two"})
    assert status == 429
    assert set(body) == {"message", "retry_after", "global"}
    assert (body["message"], body["global"]) == ("You are being rate limited.", False)
    assert 0 < body["retry_after"] <= 0.5
    headers = response.headers
    assert headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Scope"] == "user"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Bucket"] == bucket
    assert headers["Via"]
    assert float(headers["X-RateLimit-Reset-After"]) == body["retry_after"]
    # Another channel has a bucket of its own.
    status, _, _ = await call(http, "POST", f"/channels/{audit.id}/messages", json={"content": "a"})
    assert status == 200
    await asyncio.sleep(body["retry_after"])
    assert (await call(http, "POST", path, json={"content": "two"}))[0] == 200
    writes = emu.channel_writes(general)
    assert (len(writes.accepted), writes.rate_limited) == (4, 1)
    assert writes.max_in_window(0.5) == 3
    assert [m.content for m in emu.messages(general)] == ["two"]
    assert emu.write_limits.channels[audit.id].rate_limited == 0
    # Off again: writes are still recorded, never refused.
    emu.rules.reset()
    for i in range(8):
        assert (await call(http, "POST", path, json={"content": f"m{i}"}))[0] == 200
    assert (len(writes.accepted), writes.rate_limited) == (12, 1)


async def test_sliding_write_window(emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
    """Sliding: a write waits for the oldest in the window to leave it, not for a reset."""
    emu.rules.channel_write_limit = (2, 0.3)
    emu.rules.channel_write_window = "sliding"
    path = f"/channels/{emu.guild.channels['general'].id}/messages"
    status, _, response = await call(http, "POST", path, json={"content": "w1"})
    assert (status, response.headers["X-RateLimit-Remaining"]) == (200, "1")
    await asyncio.sleep(0.2)
    status, _, response = await call(http, "POST", path, json={"content": "w2"})
    assert (status, response.headers["X-RateLimit-Remaining"]) == (200, "0")
    assert response.headers["X-RateLimit-Reset-After"] == "0.300"  # until the window is empty
    status, body, _ = await call(http, "POST", path, json={"content": "w3"})
    assert status == 429
    assert 0 < body["retry_after"] <= 0.11  # w1 leaves the window first
    await asyncio.sleep(body["retry_after"])
    assert (await call(http, "POST", path, json={"content": "w4"}))[0] == 200
    # w2 is still in the window: a fixed window would have reset and let this one through.
    assert (await call(http, "POST", path, json={"content": "w5"}))[0] == 429
    writes = emu.channel_writes("general")
    assert (len(writes.accepted), writes.rate_limited) == (3, 2)
    assert writes.max_in_window(0.3) == 2


def test_max_in_window_counts_half_open_spans() -> None:
    writes = ChannelWrites(1, accepted=[0.0, 0.1, 0.2, 1.0, 1.05, 1.1, 3.0])
    assert writes.max_in_window(1.0) == 4  # [0.1, 1.1): 0.1, 0.2, 1.0, 1.05
    assert writes.max_in_window(0.15) == 3  # [1.0, 1.15)
    assert writes.max_in_window(10.0) == 7
    assert ChannelWrites(2).max_in_window(5.0) == 0
    assert (writes.in_window(3.5, 1.0), writes.in_window(3.5, 2.6)) == (1, 4)


async def test_attach_files_denied_in_one_channel(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    general, audit = emu.guild.channels["general"], emu.guild.channels["audit"]
    emu.set_permissions("general", emu.bot_user.username, deny=ATTACH_FILES)
    path = f"/channels/{general.id}/messages"
    assert (await call(http, "POST", path, json={"content": "plain"}))[0] == 200
    status, body, _ = await call(http, "POST", path, data=upload_form("a.png", png(4, 4)))
    assert (status, body) == (403, {"message": "Missing Permissions", "code": 50013})
    status, channel, _ = await call(http, "GET", f"/channels/{general.id}")
    assert channel["permission_overwrites"] == [
        {
            "id": str(emu.guild.roles[emu.bot_user.username].id),
            "type": 0,
            "allow": "0",
            "deny": str(ATTACH_FILES),
        }
    ]
    other = f"/channels/{audit.id}/messages"
    assert (await call(http, "POST", other, data=upload_form("a.png", png(4, 4))))[0] == 200
    emu.set_permissions(general, emu.guild.roles[emu.bot_user.username])  # removed again
    assert (await call(http, "POST", path, data=upload_form("a.png", png(4, 4))))[0] == 200
    # A member overwrite by user name.
    emu.set_permissions(general, "alice", deny=SEND_MESSAGES)
    assert general.overwrites[-1].type == 1
    assert not emu.guild.permissions_in(emu.users["alice"].id, general) & SEND_MESSAGES


async def test_deleted_channel_is_unknown(
    emu: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    doomed = emu.guild.add_channel("doomed", category="Text Channels")
    path = f"/channels/{doomed.id}/messages"
    status, sent, _ = await call(http, "POST", path, json={"content": "before"})
    assert status == 200
    assert emu.delete_channel("doomed") is doomed
    unknown = {"message": "Unknown Channel", "code": 10003}
    for method, route, kwargs in (
        ("GET", f"/channels/{doomed.id}", {}),
        ("POST", path, {"json": {"content": "after"}}),
        ("PATCH", f"{path}/{sent['id']}", {"json": {"content": "edit"}}),
        ("GET", path, {}),
    ):
        status, body, _ = await call(http, method, route, **kwargs)
        assert (status, body) == (404, unknown), (method, route)
    assert "doomed" not in emu.guild.channels
    assert [m.content for m in emu.messages(doomed)] == ["before"]  # still readable by tests
    with pytest.raises(InteractionRefused, match="deleted"):
        await emu.send_user_message("alice", doomed, "hello?")
    # Deleting a category orphans its channels.
    category = emu.guild.channels["Text Channels"]
    emu.delete_channel(category)
    assert emu.guild.channels["general"].parent_id is None


async def test_dm_channel_and_messages(emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
    alice = emu.users["alice"]
    status, channel, _ = await call(
        http, "POST", "/users/@me/channels", json={"recipient_id": str(alice.id)}
    )
    assert status == 200
    assert (channel["type"], channel["recipients"][0]["id"]) == (1, str(alice.id))
    assert channel["id"] == str(emu.dm_channel("alice").id)
    again = await call(http, "POST", "/users/@me/channels", json={"recipient_id": str(alice.id)})
    assert again[1]["id"] == channel["id"]  # one DM channel per user
    status, sent, _ = await call(
        http, "POST", f"/channels/{channel['id']}/messages", json={"content": "psst"}
    )
    assert status == 200
    assert "guild_id" not in sent
    [dm] = emu.dm_messages(alice)
    assert (dm.content, dm.author_id, dm.guild_id) == ("psst", emu.bot_user.id, None)
    status, body, _ = await call(http, "POST", "/users/@me/channels", json={"recipient_id": "1"})
    assert (status, body["code"]) == (404, 10013)
