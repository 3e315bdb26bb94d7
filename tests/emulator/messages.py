"""Messages: what Discord stores when a bot sends, edits or deletes, and what tests read back.

Why this module exists: channel sends, interaction responses and webhook followups all end as
messages with the same rules (attachments into the CDN, ``attachment://`` embed images,
mentions filtered by ``allowed_mentions``, replies, ``enforce_nonce`` dedup); tests then see
each message's current state and its edit history.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tests.emulator.cdn import Cdn
from tests.emulator.errors import DiscordError, empty_message, form_error, too_large
from tests.emulator.models import User
from tests.emulator.recorder import UploadedFile
from tests.emulator.snowflakes import SnowflakeFactory, iso_now, iso_of_snowflake
from tests.emulator.world import World

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2
MAX_FILES = 10

DEFAULT = 0
REPLY = 19
CHAT_INPUT_COMMAND = 20

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass
class StoredMessage:
    """One message, as Discord holds it now. ``data`` is the payload REST returns."""

    data: dict[str, Any]
    guild_id: int | None
    created_at: float  # loop time
    updated_at: float
    interaction_id: int | None = None
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    # -- reading -------------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return self.data.get("content", "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds", [])

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data.get("components", [])

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return self.data.get("attachments", [])

    @property
    def flags(self) -> int:
        return int(self.data.get("flags", 0))

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the "thinking…" placeholder of a deferred interaction."""
        return bool(self.flags & LOADING)

    @property
    def author(self) -> dict[str, Any]:
        return self.data["author"]

    @property
    def author_id(self) -> int:
        return int(self.data["author"]["id"])

    @property
    def reference(self) -> dict[str, Any] | None:
        return self.data.get("message_reference")

    @property
    def reply_to(self) -> int | None:
        ref = self.reference
        return int(ref["message_id"]) if ref and ref.get("message_id") else None

    @property
    def mentions(self) -> list[int]:
        return [int(u["id"]) for u in self.data.get("mentions", [])]

    @property
    def mention_everyone(self) -> bool:
        return bool(self.data.get("mention_everyone"))

    @property
    def edits(self) -> int:
        return len(self.history)

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in walk_components(self.components) if "custom_id" in c]

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in walk_components(self.components) if c.get("type") == 2]

    def component(self, custom_id: str) -> dict[str, Any] | None:
        for item in walk_components(self.components):
            if item.get("custom_id") == custom_id:
                return item
        return None

    def __repr__(self) -> str:
        state = " deleted" if self.deleted else ""
        return (
            f"<StoredMessage {self.id} in {self.channel_id} flags={self.flags}{state} "
            f"content={self.content[:60]!r} embeds={len(self.embeds)} "
            f"files={[a['filename'] for a in self.attachments]} ids={self.custom_ids}>"
        )


def walk_components(items: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if not isinstance(items, list):
        return found
    for item in items:
        if not isinstance(item, dict):
            continue
        found.append(item)
        found.extend(walk_components(item.get("components")))
        for key in ("accessory", "component"):
            if isinstance(item.get(key), dict):
                found.extend(walk_components([item[key]]))
    return found


class MessageStore:
    def __init__(self, world: World, cdn: Cdn, ids: SnowflakeFactory) -> None:
        self.world = world
        self.cdn = cdn
        self.ids = ids
        self.by_id: dict[int, StoredMessage] = {}
        self.by_channel: dict[int, list[StoredMessage]] = {}
        self._nonces: dict[tuple[int, int, str], tuple[StoredMessage, float]] = {}

    # -- queries -------------------------------------------------------------------------------
    def get(self, message_id: int) -> StoredMessage | None:
        return self.by_id.get(int(message_id))

    def in_channel(self, channel_id: int) -> list[StoredMessage]:
        return self.by_channel.get(channel_id, [])

    def render(self, message: StoredMessage) -> dict[str, Any]:
        """The payload with ``referenced_message`` filled from the current store."""
        data = copy.deepcopy(message.data)
        ref_id = message.reply_to
        if ref_id is not None and message.data.get("type") == REPLY:
            target = self.get(ref_id)
            data["referenced_message"] = (
                None if target is None or target.deleted else copy.deepcopy(target.data)
            )
        return data

    def find_nonce(
        self, channel_id: int, author_id: int, nonce: Any, now: float, window: float
    ) -> StoredMessage | None:
        entry = self._nonces.get((channel_id, author_id, str(nonce)))
        if entry is None or now - entry[1] > window or entry[0].deleted:
            return None
        return entry[0]

    # -- changes -------------------------------------------------------------------------------
    def create(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        author: User,
        payload: dict[str, Any],
        files: list[UploadedFile],
        upload_limit: int,
        now: float,
        msg_type: int = DEFAULT,
        extra_flags: int = 0,
        extra: dict[str, Any] | None = None,
        interaction_id: int | None = None,
        allow_empty: bool = False,
    ) -> StoredMessage:
        message_id = self.ids.next()
        attachments = self.build_attachments(payload, files, [], channel_id, upload_limit)
        flags = (int(payload.get("flags") or 0) & _SETTABLE_FLAGS) | extra_flags
        data: dict[str, Any] = {
            "id": str(message_id),
            "type": msg_type,
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": str(payload.get("content") or ""),
            "timestamp": iso_of_snowflake(message_id),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": self.build_embeds(payload.get("embeds") or [], attachments),
            "components": copy.deepcopy(payload.get("components") or []),
            "pinned": False,
            "flags": flags,
        }
        if payload.get("nonce") is not None:
            data["nonce"] = payload["nonce"]
        if payload.get("poll"):
            data["poll"] = payload["poll"]
        if extra:
            data.update(extra)
        reference = payload.get("message_reference")
        if reference:
            data.update(self._reference(reference, channel_id, guild_id))
            if msg_type == DEFAULT:
                data["type"] = REPLY
        if not allow_empty and not (
            data["content"]
            or data["embeds"]
            or attachments
            or data["components"]
            or payload.get("sticker_ids")
            or payload.get("poll")
        ):
            raise empty_message()
        self._apply_mentions(data, payload.get("allowed_mentions"), guild_id)
        message = StoredMessage(
            data=data,
            guild_id=guild_id,
            created_at=now,
            updated_at=now,
            interaction_id=interaction_id,
        )
        self.by_id[message_id] = message
        self.by_channel.setdefault(channel_id, []).append(message)
        if payload.get("nonce") is not None:
            self._nonces[(channel_id, author.id, str(payload["nonce"]))] = (message, now)
        found = self.world.channel_by_id(channel_id)
        if found is not None and not flags & EPHEMERAL:
            found[0].last_message_id = message_id
        return message

    def edit(
        self,
        message: StoredMessage,
        payload: dict[str, Any],
        files: list[UploadedFile],
        upload_limit: int,
        now: float,
        *,
        clear_loading: bool = True,
    ) -> StoredMessage:
        before = copy.deepcopy(message.data)
        data = message.data
        if "attachments" in payload or files:
            data["attachments"] = self.build_attachments(
                payload, files, data.get("attachments", []), message.channel_id, upload_limit
            )
        if "content" in payload:
            data["content"] = str(payload["content"] or "")
        if "embeds" in payload:
            data["embeds"] = self.build_embeds(payload["embeds"] or [], data["attachments"])
        if "components" in payload:
            data["components"] = copy.deepcopy(payload["components"] or [])
        if "flags" in payload and payload["flags"] is not None:
            keep = data["flags"] & ~(SUPPRESS_EMBEDS | COMPONENTS_V2)
            data["flags"] = keep | (int(payload["flags"]) & (SUPPRESS_EMBEDS | COMPONENTS_V2))
        if clear_loading:
            data["flags"] &= ~LOADING
        if "content" in payload or "allowed_mentions" in payload:
            self._apply_mentions(data, payload.get("allowed_mentions"), message.guild_id)
        if not (
            data["content"]
            or data["embeds"]
            or data["attachments"]
            or data["components"]
            or data.get("poll")
            or data["flags"] & LOADING
        ):
            message.data = before
            raise empty_message()
        data["edited_timestamp"] = iso_now()
        message.history.append(before)
        message.updated_at = now
        return message

    def delete(self, message: StoredMessage, now: float) -> None:
        message.deleted = True
        message.updated_at = now

    # -- pieces --------------------------------------------------------------------------------
    def build_attachments(
        self,
        payload: dict[str, Any],
        files: list[UploadedFile],
        existing: list[dict[str, Any]],
        channel_id: int,
        upload_limit: int,
    ) -> list[dict[str, Any]]:
        if len(files) > MAX_FILES:
            raise form_error(
                ["files"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
            )
        for upload in files:
            if upload.size > upload_limit:
                raise too_large()
        by_field = {u.field: u for u in files}
        existing_by_id = {str(a["id"]): a for a in existing}
        result: list[dict[str, Any]] = []
        listed = payload.get("attachments")
        if isinstance(listed, list):
            for index, entry in enumerate(listed):
                if not isinstance(entry, dict) or "id" not in entry:
                    continue
                key = str(entry["id"])
                if key in existing_by_id:
                    result.append(existing_by_id[key])
                    continue
                upload = by_field.get(f"files[{key}]") or by_field.get(f"file[{key}]")
                if upload is None:
                    raise form_error(
                        ["attachments", index],
                        "ATTACHMENT_NOT_FOUND",
                        f"Attachment data not found: {key}",
                    )
                result.append(
                    self._store(upload, channel_id, entry.get("filename"), entry.get("description"))
                )
        else:
            result.extend(existing)
            for upload in files:
                result.append(self._store(upload, channel_id, None, None))
        if len(result) > MAX_FILES:
            raise form_error(
                ["attachments"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
            )
        return result

    def _store(
        self, upload: UploadedFile, channel_id: int, filename: str | None, description: str | None
    ) -> dict[str, Any]:
        blob = self.cdn.store(
            filename or upload.filename,
            upload.data,
            upload.content_type,
            channel_id=channel_id,
            description=description,
        )
        return self.cdn.payload(blob)

    def build_embeds(
        self, embeds: list[Any], attachments: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        by_name = {a["filename"]: a for a in attachments}
        result = []
        for raw in embeds:
            if not isinstance(raw, dict):
                continue
            embed = copy.deepcopy(raw)
            embed.setdefault("type", "rich")
            embed["content_scan_version"] = 0
            for key in ("image", "thumbnail", "video"):
                media = embed.get(key)
                if isinstance(media, dict) and str(media.get("url", "")).startswith(
                    "attachment://"
                ):
                    att = by_name.get(media["url"][len("attachment://") :])
                    if att is not None:
                        media.update(url=att["url"], proxy_url=att["proxy_url"])
                        if "width" in att:
                            media.update(width=att["width"], height=att["height"])
            result.append(embed)
        return result

    def _reference(
        self, reference: dict[str, Any], channel_id: int, guild_id: int | None
    ) -> dict[str, Any]:
        target_id = reference.get("message_id")
        target = self.get(int(target_id)) if target_id else None
        if target is None or target.deleted or target.ephemeral:
            if reference.get("fail_if_not_exists", True):
                raise form_error(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return {}
        ref = {"type": 0, "channel_id": str(target.channel_id), "message_id": str(target.id)}
        if guild_id is not None:
            ref["guild_id"] = str(guild_id)
        return {"message_reference": ref}

    def _apply_mentions(self, data: dict[str, Any], allowed: Any, guild_id: int | None) -> None:
        content = data.get("content", "")
        if allowed is None:
            parse = {"users", "roles", "everyone"}
            allowed = {}
        else:
            parse = set(allowed.get("parse") or [])
        user_ids: list[int] = []
        for raw in _USER_MENTION.findall(content):
            uid = int(raw)
            if "users" in parse or str(uid) in {str(u) for u in allowed.get("users") or []}:
                user_ids.append(uid)
        ref = data.get("message_reference")
        if ref and allowed.get("replied_user", True) is not False:
            target = self.get(int(ref["message_id"]))
            if target is not None:
                user_ids.append(target.author_id)
        role_ids: list[str] = []
        for raw in _ROLE_MENTION.findall(content):
            if "roles" in parse or raw in {str(r) for r in allowed.get("roles") or []}:
                role_ids.append(raw)
        users = []
        for uid in dict.fromkeys(user_ids):
            if uid in self.world.users:
                users.append(self.world.users[uid].payload())
        data["mentions"] = users
        data["mention_roles"] = role_ids
        data["mention_everyone"] = "everyone" in parse and (
            "@everyone" in content or "@here" in content
        )


def discord_error_for_missing(message: StoredMessage | None) -> StoredMessage:
    if message is None or message.deleted:
        raise DiscordError(404, 10008, "Unknown Message")
    return message
