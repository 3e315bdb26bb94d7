"""The server-side world: users, roles, channels, members and guilds, and their payloads.

Why this module exists: READY, GUILD_CREATE, REST reads and every INTERACTION_CREATE render the
same objects; keeping them here, each with the payload Discord sends, keeps those consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.emulator import permissions as perms
from tests.emulator.permissions import Overwrite
from tests.emulator.snowflakes import iso_of_snowflake, shard_of

TEXT = 0
DM = 1
VOICE = 2
CATEGORY = 4
NEWS = 5
FORUM = 15


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    discriminator: str = "0"
    avatar: str | None = None

    @property
    def name(self) -> str:
        return self.username

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": self.discriminator,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "description": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Channel:
    id: int
    name: str
    type: int = TEXT
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    nsfw: bool = False
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    recipients: list[User] = field(default_factory=list)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self, *, with_guild_id: bool = True) -> dict[str, Any]:
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "flags": 0,
                "last_message_id": _opt_id(self.last_message_id),
                "recipients": [u.payload() for u in self.recipients],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "parent_id": _opt_id(self.parent_id),
            "nsfw": self.nsfw,
            "flags": 0,
            "permission_overwrites": [ow.payload() for ow in self.overwrites],
        }
        if self.type != CATEGORY:
            data.update(
                topic=self.topic,
                rate_limit_per_user=self.rate_limit_per_user,
                last_message_id=_opt_id(self.last_message_id),
                default_auto_archive_duration=1440,
            )
        if self.type == VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        if with_guild_id and self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class Member:
    user: User
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_id: int = 0  # a snowflake giving joined_at

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso_of_snowflake(self.joined_id or self.user.id),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
            "avatar_decoration_data": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Guild:
    """A server. ``channels``, ``roles`` and ``users`` are keyed by name for tests."""

    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    preferred_locale: str = "en-US"
    roles_by_id: dict[int, Role] = field(default_factory=dict)
    channels_by_id: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    # Set by the emulator: makes new ids and tells the gateway about additions.
    _new_id: Callable[[], int] | None = field(default=None, repr=False)
    _on_event: Callable[[str, dict[str, Any]], None] | None = field(default=None, repr=False)

    # -- lookups -------------------------------------------------------------------------------
    @property
    def channels(self) -> dict[str, Channel]:
        return {c.name: c for c in self.channels_by_id.values()}

    @property
    def roles(self) -> dict[str, Role]:
        return {r.name: r for r in self.roles_by_id.values()}

    @property
    def users(self) -> dict[str, User]:
        return {m.user.username: m.user for m in self.members.values()}

    @property
    def everyone(self) -> Role:
        return self.roles_by_id[self.id]

    def shard(self, shard_count: int) -> int:
        """The gateway shard (of ``shard_count``) that gets this guild: ``(id >> 22) % n``."""
        return shard_of(self.id, shard_count)

    def channel(self, name_or_id: str | int) -> Channel:
        if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()):
            return self.channels_by_id[int(name_or_id)]
        return self.channels[name_or_id]

    def role(self, name_or_id: str | int | Role) -> Role:
        if isinstance(name_or_id, Role):
            return name_or_id
        if isinstance(name_or_id, int):
            return self.roles_by_id[name_or_id]
        return self.roles[name_or_id]

    def member(self, user: User | int | str) -> Member:
        if isinstance(user, User):
            return self.members[user.id]
        if isinstance(user, int):
            return self.members[user]
        for member in self.members.values():
            if member.user.username == user:
                return member
        raise KeyError(user)

    # -- permissions ---------------------------------------------------------------------------
    def base_permissions(self, user_id: int) -> int:
        member = self.members[user_id]
        return perms.base_permissions(
            everyone=self.everyone.permissions,
            role_permissions=[
                self.roles_by_id[r].permissions for r in member.role_ids if r in self.roles_by_id
            ],
            is_owner=user_id == self.owner_id,
        )

    def permissions_in(self, user_id: int, channel: Channel | None) -> int:
        base = self.base_permissions(user_id)
        if channel is None:
            return base
        member = self.members[user_id]
        overwrites = list(channel.overwrites)
        if channel.parent_id is not None and not overwrites:
            parent = self.channels_by_id.get(channel.parent_id)
            overwrites = list(parent.overwrites) if parent else []
        return perms.channel_permissions(
            base,
            guild_id=self.id,
            member_id=user_id,
            role_ids=member.role_ids,
            overwrites=overwrites,
        )

    # -- changes -------------------------------------------------------------------------------
    def add_role(self, name: str, permissions: int = 0, **kwargs: Any) -> Role:
        assert self._new_id is not None
        role = Role(
            id=self._new_id(),
            name=name,
            permissions=permissions,
            position=len(self.roles_by_id),
            **kwargs,
        )
        self.roles_by_id[role.id] = role
        self._emit("GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.payload()})
        return role

    def add_channel(
        self,
        name: str,
        *,
        type: int = TEXT,
        nsfw: bool = False,
        category: str | Channel | None = None,
        topic: str | None = None,
        overwrites: list[Overwrite] | None = None,
    ) -> Channel:
        assert self._new_id is not None
        parent = self.channel(category) if isinstance(category, str) else category
        channel = Channel(
            id=self._new_id(),
            name=name,
            type=type,
            guild_id=self.id,
            position=len(self.channels_by_id),
            nsfw=nsfw,
            topic=topic,
            parent_id=parent.id if parent else None,
            overwrites=list(overwrites or []),
        )
        self.channels_by_id[channel.id] = channel
        self._emit("CHANNEL_CREATE", channel.payload())
        return channel

    def add_member(
        self, user: User, roles: list[str | int | Role] | None = None, nick: str | None = None
    ) -> Member:
        assert self._new_id is not None
        member = Member(
            user=user,
            role_ids=[self.role(r).id for r in roles or []],
            nick=nick,
            joined_id=self._new_id(),
        )
        self.members[user.id] = member
        self._emit("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(self.id)})
        return member

    def set_permissions(
        self,
        channel: Channel | str | int,
        target: Role | Member | User | str | int,
        *,
        allow: int = 0,
        deny: int = 0,
    ) -> Channel:
        """Set ``channel``'s overwrite for a role or member (``target``: an object, or a role
        or user name or id); ``allow=deny=0`` removes it. The bot gets CHANNEL_UPDATE."""
        chan = channel if isinstance(channel, Channel) else self.channel(channel)
        target_id, kind = self._overwrite_target(target)
        kept = [ow for ow in chan.overwrites if ow.id != target_id]
        if allow or deny:
            kept.append(Overwrite(id=target_id, type=kind, allow=allow, deny=deny))
        chan.overwrites = kept
        self._emit("CHANNEL_UPDATE", chan.payload())
        return chan

    def remove_channel(self, channel: Channel | str | int) -> Channel:
        """Delete ``channel`` as a moderator would: the bot gets CHANNEL_DELETE, later requests
        to it get 404 Unknown Channel (10003). A deleted category's channels lose their parent
        (CHANNEL_UPDATE each), as on Discord. Its messages stay readable by tests."""
        chan = channel if isinstance(channel, Channel) else self.channel(channel)
        del self.channels_by_id[chan.id]
        self._emit("CHANNEL_DELETE", chan.payload())
        for child in self.channels_by_id.values():
            if child.parent_id == chan.id:
                child.parent_id = None
                self._emit("CHANNEL_UPDATE", child.payload())
        return chan

    def _overwrite_target(self, target: Role | Member | User | str | int) -> tuple[int, int]:
        """(id, type) of an overwrite target: type 0 for a role, 1 for a member."""
        if isinstance(target, Role):
            return target.id, 0
        if isinstance(target, Member):
            return target.user.id, 1
        if isinstance(target, User):
            return target.id, 1
        if isinstance(target, int) or target.isdigit():
            if int(target) in self.roles_by_id:
                return int(target), 0
            return self.members[int(target)].user.id, 1
        if target in self.roles:
            return self.roles[target].id, 0
        return self.member(target).user.id, 1

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(event, data)

    @property
    def upload_tier_limit(self) -> int:
        return {2: 50 * 1024 * 1024, 3: 100 * 1024 * 1024}.get(self.premium_tier, 10 * 1024 * 1024)

    # -- payloads ------------------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        """The guild object as ``GET /guilds/{id}`` returns it (no channels or members)."""
        text = [c for c in self.channels_by_id.values() if c.type == TEXT]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_id": str(text[0].id) if text else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.preferred_locale,
            "max_presences": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "features": [],
            "application_id": None,
            "roles": [r.payload() for r in self.roles_by_id.values()],
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
            "home_header": None,
        }

    def create_payload(self, *, bot_id: int, all_members: bool) -> dict[str, Any]:
        """GUILD_CREATE's ``d``: the guild with channels, members and counters."""
        members = [m for m in self.members.values() if all_members or m.user.id == bot_id]
        bot_member = self.members.get(bot_id)
        return {
            **self.payload(),
            "unavailable": False,
            "large": len(self.members) >= 250,
            "lazy": True,
            "member_count": len(self.members),
            "joined_at": iso_of_snowflake(bot_member.joined_id) if bot_member else None,
            "channels": [c.payload(with_guild_id=False) for c in self.channels_by_id.values()],
            "threads": [],
            "members": [m.payload() for m in members],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "version": 1,
            "hub_type": None,
        }

    def interaction_guild(self) -> dict[str, Any]:
        return {"id": str(self.id), "locale": self.preferred_locale, "features": []}


def _opt_id(value: int | None) -> str | None:
    return None if value is None else str(value)
