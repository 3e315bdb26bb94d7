"""All users, guilds and DM channels of one emulator, and the default test server.

Why this module exists: every handler resolves ids to objects through one place; the default
server (general, nsfw-art, audit; alice, bob, staff) is built here so every test starts alike.
"""

from __future__ import annotations

from typing import Any

from tests.emulator import permissions as perms
from tests.emulator.models import CATEGORY, DM, Channel, Guild, Member, Role, User
from tests.emulator.permissions import Overwrite
from tests.emulator.snowflakes import SnowflakeFactory


class World:
    def __init__(self, ids: SnowflakeFactory, *, bot_name: str) -> None:
        self.ids = ids
        self.application_id = ids.next()
        self.bot_user = User(
            id=self.application_id,
            username=bot_name,
            global_name=None,
            bot=True,
            discriminator="0001",
        )
        self.owner = User(id=ids.next(), username="owner", global_name="Owner")
        self.users: dict[int, User] = {u.id: u for u in (self.bot_user, self.owner)}
        self.guilds: dict[int, Guild] = {}
        self.dm_channels: dict[int, Channel] = {}
        self.on_event: Any = None  # set by the emulator: (guild_id | None, event, data) -> None

    # -- users ---------------------------------------------------------------------------------
    def add_user(self, username: str, *, global_name: str | None = None, bot: bool = False) -> User:
        user = User(
            id=self.ids.next(),
            username=username,
            global_name=global_name if global_name is not None else username.title(),
            bot=bot,
        )
        self.users[user.id] = user
        return user

    def user(self, ref: User | int | str) -> User:
        if isinstance(ref, User):
            return ref
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.users[int(ref)]
        for user in self.users.values():
            if user.username == ref:
                return user
        raise KeyError(f"no user named {ref!r}")

    # -- guilds --------------------------------------------------------------------------------
    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        premium_tier: int = 0,
        shard: tuple[int, int] | None = None,
        layout: bool = False,
    ) -> Guild:
        """A new guild with the owner and the bot as members. ``shard=(k, n)``: its id puts it
        on gateway shard ``k`` of ``n``. ``layout=True``: the default server's roles, channels
        and members too (the users ``alice``, ``bob``, ``staff``, made when missing), built
        before any event about the guild is emitted."""
        gid = self.ids.next(shard=shard)
        owner = owner or self.owner
        guild = Guild(id=gid, name=name, owner_id=owner.id, premium_tier=premium_tier)
        guild._new_id = self.ids.next
        guild.roles_by_id[gid] = _everyone(gid)
        bot_role = guild.add_role(
            self.bot_user.username, perms.BOT_DEFAULT, managed=True, bot_id=self.bot_user.id
        )
        guild.add_member(owner)
        guild.add_member(self.bot_user, roles=[bot_role])
        if layout:
            self._lay_out(guild)
        guild._on_event = lambda event, data: self._emit(gid, event, data)
        self.guilds[gid] = guild
        return guild

    def build_default_guild(self, name: str) -> Guild:
        return self.add_guild(name, layout=True)

    def _lay_out(self, guild: Guild) -> None:
        """The default server's roles, channels and members in ``guild``."""
        staff_role = guild.add_role("staff", perms.STAFF_DEFAULT, hoist=True, color=0x3498DB)
        member_role = guild.add_role("member", 0, color=0x2ECC71)
        category = guild.add_channel("Text Channels", type=CATEGORY)
        guild.add_channel("general", category=category, topic="General chat")
        guild.add_channel("nsfw-art", category=category, nsfw=True, topic="Age-restricted")
        guild.add_channel(
            "audit",
            category=category,
            topic="Staff only",
            overwrites=[
                Overwrite(id=guild.id, type=0, deny=perms.VIEW_CHANNEL),
                Overwrite(id=staff_role.id, type=0, allow=perms.VIEW_CHANNEL),
                Overwrite(
                    id=guild.role(self.bot_user.username).id,
                    type=0,
                    allow=perms.VIEW_CHANNEL | perms.SEND_MESSAGES,
                ),
            ],
        )
        for username, roles in (
            ("alice", [member_role]),
            ("bob", [member_role]),
            ("staff", [member_role, staff_role]),
        ):
            existing = [u for u in self.users.values() if u.username == username]
            user = existing[0] if existing else self.add_user(username)
            guild.add_member(user, roles=list(roles))

    def guild(self, ref: Guild | int | str) -> Guild:
        if isinstance(ref, Guild):
            return ref
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.guilds[int(ref)]
        for guild in self.guilds.values():
            if guild.name == ref:
                return guild
        raise KeyError(f"no guild named {ref!r}")

    # -- channels ------------------------------------------------------------------------------
    def channel_by_id(self, channel_id: int) -> tuple[Channel, Guild | None] | None:
        for guild in self.guilds.values():
            channel = guild.channels_by_id.get(channel_id)
            if channel is not None:
                return channel, guild
        channel = self.dm_channels.get(channel_id)
        return (channel, None) if channel is not None else None

    def dm_channel(self, user: User) -> Channel:
        for channel in self.dm_channels.values():
            if channel.recipients and channel.recipients[0].id == user.id:
                return channel
        channel = Channel(id=self.ids.next(), name="", type=DM, recipients=[user])
        self.dm_channels[channel.id] = channel
        return channel

    def _emit(self, guild_id: int | None, event: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(guild_id, event, data)


def _everyone(guild_id: int) -> Role:
    return Role(id=guild_id, name="@everyone", permissions=perms.EVERYONE_DEFAULT, position=0)


def member_of(guild: Guild, user: User) -> Member | None:
    return guild.members.get(user.id)
