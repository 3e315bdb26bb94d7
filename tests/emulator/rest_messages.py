"""Channel message routes: send, edit, delete, fetch one, read history.

Why this module exists: final results and late status edits go through the bot's own channel
routes (interaction tokens expire); these apply Discord's permission checks, limits, replies,
``enforce_nonce`` dedup, and emit MESSAGE_CREATE/UPDATE/DELETE like Discord.
"""

from __future__ import annotations

from typing import Any

from tests.emulator import permissions as perms
from tests.emulator.errors import (
    DiscordError,
    form_error,
    missing_access,
    missing_permissions,
    unknown,
)
from tests.emulator.message_rules import check_message, check_uploads
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, Guild
from tests.emulator.router import NO_CONTENT, Call, Router

_MESSAGES = "/channels/{channel_id}/messages"


def register(router: Router) -> None:
    router.add("POST", _MESSAGES, send_message)
    router.add("GET", _MESSAGES, history)
    router.add("GET", _MESSAGES + "/{message_id}", get_message)
    router.add("PATCH", _MESSAGES + "/{message_id}", edit_message)
    router.add("DELETE", _MESSAGES + "/{message_id}", delete_message)


def _bot_permissions(call: Call, channel: Channel, guild: Guild | None) -> int:
    if guild is None or not call.state.rules.enforce_permissions:
        return perms.ALL
    allowed = guild.permissions_in(call.state.world.bot_user.id, channel)
    if not allowed & perms.VIEW_CHANNEL:
        raise missing_access()
    return allowed


def _message(call: Call, channel: Channel) -> StoredMessage:
    try:
        message = call.state.messages.get(call.int_param("message_id"))
    except ValueError:
        message = None
    if message is None or message.deleted or message.ephemeral or message.channel_id != channel.id:
        raise unknown("Message")
    return message


async def send_message(call: Call) -> Any:
    state = call.state
    channel, guild = state.channel(call.params["channel_id"])
    allowed = _bot_permissions(call, channel, guild)
    payload = call.json if isinstance(call.json, dict) else {}
    files = call.body.files
    check_uploads(files, state.upload_limit(guild.id if guild else None))
    if not allowed & perms.SEND_MESSAGES or (files and not allowed & perms.ATTACH_FILES):
        raise missing_permissions()
    check_message(state.rules, payload)
    now = state.now()
    if payload.get("enforce_nonce") and payload.get("nonce") is not None:
        existing = state.messages.find_nonce(
            channel.id,
            state.world.bot_user.id,
            payload["nonce"],
            now,
            state.config.nonce_window_seconds,
        )
        if existing is not None:
            return state.messages.render(existing)
    if not allowed & perms.EMBED_LINKS:
        payload = {**payload, "embeds": []}
    message = state.messages.create(
        channel_id=channel.id,
        guild_id=guild.id if guild else None,
        author=state.world.bot_user,
        payload=payload,
        files=files,
        upload_limit=state.upload_limit(guild.id if guild else None),
        now=now,
    )
    state.message_event("MESSAGE_CREATE", message)
    return state.messages.render(message)


async def get_message(call: Call) -> Any:
    channel, guild = call.state.channel(call.params["channel_id"])
    allowed = _bot_permissions(call, channel, guild)
    if not allowed & perms.READ_MESSAGE_HISTORY:
        raise missing_access()
    return call.state.messages.render(_message(call, channel))


async def edit_message(call: Call) -> Any:
    state = call.state
    channel, guild = state.channel(call.params["channel_id"])
    _bot_permissions(call, channel, guild)
    message = _message(call, channel)
    payload = call.json if isinstance(call.json, dict) else {}
    if message.author_id != state.world.bot_user.id and set(payload) - {"flags"}:
        raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
    check_uploads(call.body.files, state.upload_limit(guild.id if guild else None))
    check_message(state.rules, payload, current_flags=message.flags)
    state.messages.edit(
        message,
        payload,
        call.body.files,
        state.upload_limit(guild.id if guild else None),
        state.now(),
    )
    state.message_event("MESSAGE_UPDATE", message)
    return state.messages.render(message)


async def delete_message(call: Call) -> Any:
    state = call.state
    channel, guild = state.channel(call.params["channel_id"])
    allowed = _bot_permissions(call, channel, guild)
    message = _message(call, channel)
    if message.author_id != state.world.bot_user.id and not allowed & perms.MANAGE_MESSAGES:
        raise missing_permissions()
    state.messages.delete(message, state.now())
    state.message_delete_event(message)
    return NO_CONTENT


async def history(call: Call) -> Any:
    state = call.state
    channel, guild = state.channel(call.params["channel_id"])
    allowed = _bot_permissions(call, channel, guild)
    if not allowed & perms.READ_MESSAGE_HISTORY:
        return []
    try:
        limit = int(call.query.get("limit", 50))
    except ValueError:
        raise form_error(["limit"], "NUMBER_TYPE_COERCE", "Value is not int.") from None
    if not 1 <= limit <= 100:
        raise form_error(
            ["limit"],
            "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
            "int value should be between 1 and 100.",
        )
    visible = sorted(
        (m for m in state.messages.in_channel(channel.id) if not m.deleted and not m.ephemeral),
        key=lambda m: m.id,
    )
    before, after, around = (call.query.get(k) for k in ("before", "after", "around"))
    if around is not None:
        pivot = int(around)
        older = [m for m in visible if m.id < pivot][-(limit // 2) :] if limit > 1 else []
        newer = [m for m in visible if m.id >= pivot][: limit - len(older)]
        chosen = older + newer
    elif after is not None:
        chosen = [m for m in visible if m.id > int(after)][:limit]
    else:
        if before is not None:
            visible = [m for m in visible if m.id < int(before)]
        chosen = visible[-limit:]
    return [state.messages.render(m) for m in reversed(chosen)]
