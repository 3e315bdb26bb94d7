"""Interactions through the real discord.py bot: replies, defer + followups, files, buttons,
modals, autocomplete, and each of Discord's rules a bot can break."""

from __future__ import annotations

import hashlib
import io

import aiohttp
import pytest
from PIL import Image

from tests.emulator import BotProcess, DiscordEmulator

pytestmark = pytest.mark.asyncio(loop_scope="module")


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_slash_command_answered(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("alice", "general", "size-pick", {"size": "1280*720", "count": 2})
    response = await itx.response()
    assert response.type == 4
    assert response.data["content"] == "size 1280*720 x2"
    assert response.latency < 3
    message = await emulator.wait_for_message("general", lambda m: m.id == itx.original().id)
    assert message.content == "size 1280*720 x2"
    assert message.author_id == emulator.bot_user.id
    assert not message.ephemeral


async def test_defer_then_followup_edits_the_loading_message(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    itx = await emulator.slash("alice", "general", "render", {"prompt": "a red fox"})
    response = await itx.response()
    assert response.type == 5  # thinking
    first, second = await itx.followups(2)
    original = itx.original()
    assert first.id == original.id  # the first followup replaced the loading message
    assert first.history[0]["flags"] & 128  # it had been "thinking…"
    assert not first.loading
    assert first.content == "done: a red fox"
    assert second.id != first.id
    assert second.ephemeral
    assert second.content == "second followup"
    job = itx.id % 100000
    assert first.custom_ids == [f"job:again:{job}", f"job:delete:{job}", f"job:ack:{job}"]


async def test_uploaded_file_bytes_are_readable(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    itx = await emulator.slash("bob", "general", "render", {"prompt": "a file"})
    message = (await itx.followups(1))[0]
    [attachment] = message.attachments
    assert attachment["filename"] == "render.png"
    assert attachment["content_type"] == "image/png"
    assert (attachment["width"], attachment["height"]) == (64, 48)
    data = emulator.attachment_bytes(attachment)
    assert data.startswith(b"\x89PNG")
    assert attachment["size"] == len(data)
    assert message.embeds[0]["image"]["url"] == attachment["url"]  # attachment:// resolved
    [upload] = next(
        r for r in emulator.requests.matching("POST /webhooks/*") if itx.token in r.path and r.files
    ).files
    assert (upload.field, upload.filename, upload.data) == ("files[0]", "render.png", data)
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as answer:
        assert answer.status == 200
        assert await answer.read() == data


async def test_attachment_option_is_downloaded_by_the_bot(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    data = png(320, 200)
    attachment = emulator.cdn.add("my cat.png", data)
    assert attachment["filename"] == "my_cat.png"
    itx = await emulator.slash("alice", "general", "describe", attachments={"image": attachment})
    assert itx.payload["data"]["resolved"]["attachments"][attachment["id"]] == attachment
    response = await itx.response()
    digest = hashlib.sha256(data).hexdigest()[:12]
    assert response.data["content"] == (
        f"my_cat.png {len(data)} {len(data)} 320x200 image/png {digest}"
    )
    assert any(attachment["id"] in path for path in emulator.cdn.downloads)
    callback = next(
        r
        for r in emulator.requests.matching("POST /interactions/*")
        if r.path.startswith(f"/interactions/{itx.id}/")
    )
    assert [f.field for f in callback.files] == ["files[0]"]
    assert callback.json["data"]["attachments"] == [{"id": 0, "filename": "echo-my_cat.png"}]
    [echo] = itx.original().attachments
    assert echo["filename"] == "echo-my_cat.png"
    assert emulator.attachment_bytes(echo) == data


async def test_button_click_reaches_the_dynamic_item(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    itx = await emulator.slash("alice", "general", "render", {"prompt": "clickable"})
    message = (await itx.followups(1))[0]
    job = itx.id % 100000
    again = await emulator.click("bob", message, f"job:again:{job}")
    assert again.payload["message"]["id"] == str(message.id)
    assert again.payload["message"]["interaction_metadata"]["id"] == str(itx.id)
    assert again.payload["data"] == {"custom_id": f"job:again:{job}", "component_type": 2}
    assert again.record.created_at - message.updated_at >= emulator.rules.min_click_delay
    response = await again.response()
    assert response.type == 4
    assert response.data["content"].startswith(f"again job {job} for bob")
    assert again.original().ephemeral

    ack = await emulator.click("bob", message, f"job:ack:{job}")
    assert (await ack.response()).type == 6
    edited = await emulator.wait_for_message(
        "general", lambda m: m.id == message.id and "acknowledged" in m.content
    )
    assert edited.content == f"job {job} acknowledged"
    assert ack.original().id == message.id
    assert emulator.requests.matching("PATCH /webhooks/*/*/messages/@original")

    delete = await emulator.click("bob", message, f"job:delete:{job}")
    response = await delete.response()
    assert response.type == 7
    after = emulator.message(message.id)
    assert after.content == f"job {job} deleted by bob"
    assert (after.components, after.embeds, after.attachments) == ([], [], [])
    assert after.edits == 3  # loading → result → acknowledged → deleted


async def test_modal_submit(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("alice", "general", "feedback")
    response = await itx.response()
    assert response.type == 9
    assert itx.modal["title"] == "Feedback"
    submitted = await emulator.submit_modal("alice", itx, {"feedback-text": "lovely"})
    answer = await submitted.response()
    assert answer.data["content"] == "thanks alice: lovely"


async def test_autocomplete_choices(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    choices = await emulator.autocomplete(
        "alice", "general", "size-pick", {"size": "1280"}, focused="size"
    )
    assert choices == [
        {"name": "720*1280", "value": "720*1280"},
        {"name": "1280*720", "value": "1280*720"},
    ]
    handle = emulator.handles[-1]
    assert handle.payload["type"] == 4
    assert handle.payload["data"]["options"] == [
        {"type": 3, "name": "size", "value": "1280", "focused": True}
    ]


async def test_three_second_deadline(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("alice", "general", "slow", {"seconds": 4})
    [attempt] = await itx.wait_attempts(1, timeout=8)
    assert (attempt.status, attempt.error_code) == (404, 10062)
    assert attempt.latency > 3
    report = await emulator.wait_for_message(
        "general", lambda m: m.content.startswith("slow failed"), timeout=5
    )
    assert report.content == "slow failed 404 10062"
    assert itx.original() is None


async def test_double_acknowledgement(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("alice", "general", "twice")
    first, second = await itx.wait_attempts(2)
    assert first.accepted
    assert (second.status, second.error_code) == (400, 40060)
    [followup] = await itx.followups(1)
    assert followup.content == "second refused 400 40060"


async def test_token_expiry(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    itx = await emulator.slash("bob", "general", "late", {"seconds": 1.3})
    assert (await itx.response()).type == 5
    emulator.rules.token_ttl_seconds = 0.8  # from now on: the token lived 0.8 s
    report = await emulator.wait_for_message(
        "general", lambda m: m.content.startswith("late failed"), timeout=5
    )
    assert report.content == "late failed 401 50027; result by channel"
    [refused] = [r for r in emulator.requests.matching("POST /webhooks/*") if itx.token in r.path]
    assert refused.response == {"message": "Invalid Webhook Token", "code": 50027}
    assert itx.original().loading


async def test_upload_limit(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    emulator.rules.set_upload_limit(emulator.guild, 1000)
    itx = await emulator.slash("alice", "general", "big", {"size": 1500})
    assert itx.payload["attachment_size_limit"] == 1000
    [followup] = await itx.followups(1)
    assert followup.content == "upload refused 413 40005; limit 1000"
    [refused] = [
        r
        for r in emulator.requests.matching("POST /webhooks/*")
        if itx.token in r.path and r.status != 200
    ]
    assert (refused.status, refused.response["code"]) == (413, 40005)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        (
            "content",
            {
                "data": {
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 2000 or fewer in length.",
                            }
                        ]
                    }
                }
            },
        ),
        (
            "embed",
            {
                "data": {
                    "embeds": {
                        "0": {
                            "description": {
                                "_errors": [
                                    {
                                        "code": "BASE_TYPE_MAX_LENGTH",
                                        "message": "Must be 4096 or fewer in length.",
                                    }
                                ]
                            }
                        }
                    }
                }
            },
        ),
        (
            "button",
            {
                "data": {
                    "components": {
                        "0": {
                            "components": {
                                "0": {
                                    "custom_id": {
                                        "_errors": [
                                            {
                                                "code": "BASE_TYPE_BAD_LENGTH",
                                                "message": "Must be between 1 and 100 in length.",
                                            }
                                        ]
                                    }
                                }
                            }
                        }
                    }
                }
            },
        ),
    ],
)
async def test_payload_limits(
    emulator: DiscordEmulator, sample_bot: BotProcess, kind: str, path: dict[str, object]
) -> None:
    itx = await emulator.slash("alice", "general", "long", {"kind": kind})
    first, second = await itx.wait_attempts(2)
    assert (first.status, first.error_code) == (400, 50035)
    refused = next(
        r
        for r in emulator.requests.matching("POST /interactions/*")
        if r.status == 400 and r.path.startswith(f"/interactions/{itx.id}/")
    )
    assert refused.response == {"message": "Invalid Form Body", "code": 50035, "errors": path}
    assert second.accepted
    assert second.data["content"].startswith("refused 400 50035")


async def test_429_is_retried_after_retry_after(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    fault = emulator.rules.inject_429("POST /channels/*/messages", n=1, retry_after=0.3)
    itx = await emulator.slash("alice", "general", "post", {"text": "rate limited hello"})
    [followup] = await itx.followups(1, timeout=8)
    assert followup.content.endswith("rate limited hello (edited)")
    assert followup.ephemeral
    assert fault.hits == 1
    sends = [
        r
        for r in emulator.requests.matching("POST /channels/{channel_id}/messages")
        if r.at >= itx.record.created_at
    ]
    assert [r.status for r in sends] == [429, 200]
    assert sends[1].at - sends[0].at >= 0.3
    assert sends[0].response["retry_after"] == 0.3
    posted = await emulator.wait_for_message(
        "general", lambda m: m.content == "rate limited hello (edited)"
    )
    assert posted.edits == 1
    assert posted.data["nonce"] == sends[1].json["nonce"]


async def test_injected_5xx_is_retried(emulator: DiscordEmulator, sample_bot: BotProcess) -> None:
    emulator.rules.inject_5xx("PATCH /channels/*/messages/*", n=1, status=502)
    itx = await emulator.slash("bob", "general", "post", {"text": "flaky edit"})
    [followup] = await itx.followups(1, timeout=8)
    assert followup.content.endswith("flaky edit (edited)")
    edits = [
        r
        for r in emulator.requests.matching("PATCH /channels/*/messages/*")
        if r.at >= itx.record.created_at
    ]
    assert [r.status for r in edits] == [502, 200]


async def test_ephemeral_messages_are_not_in_channel_history(
    emulator: DiscordEmulator, sample_bot: BotProcess
) -> None:
    itx = await emulator.slash("alice", "general", "whoami")
    message = await itx.wait_original()
    assert message.ephemeral
    assert message in emulator.messages("general")
    assert message not in emulator.messages("general", include_ephemeral=False)
