"""Everything one emulator knows, shared by the REST handlers, the gateway and the test API.

Why this module exists: handlers need the world, messages, commands, interactions, rules and
the gateway together; this object is that bundle plus the few helpers all of them use
(resolving a channel, the upload limit, emitting message events with intents applied).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from tests.emulator.cdn import Cdn
from tests.emulator.commands import CommandRegistry
from tests.emulator.config import EmulatorConfig
from tests.emulator.errors import unknown
from tests.emulator.gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    GatewayServer,
)
from tests.emulator.interaction_state import InteractionRecord
from tests.emulator.messages import MessageStore, StoredMessage
from tests.emulator.models import Channel, Guild
from tests.emulator.recorder import RecordedRequest, RequestLog
from tests.emulator.rules import Rules
from tests.emulator.snowflakes import SnowflakeFactory
from tests.emulator.waiting import Notifier
from tests.emulator.world import World
from tests.emulator.write_limits import CHANNEL_WRITE_ROUTES, ChannelWriteLimiter, WriteDecision


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.base_url = ""
        self.ids = SnowflakeFactory()
        self.notifier = Notifier()
        self.rules = Rules(config)
        self.world = World(self.ids, bot_name=config.bot_name)
        self.world.on_event = self._world_event
        self.cdn = Cdn(
            self.ids,
            lambda: self.base_url,
            lambda: self.rules.cdn_url_ttl_seconds,
            self.world.application_id,
        )
        self.messages = MessageStore(self.world, self.cdn, self.ids)
        self.commands = CommandRegistry(self.ids, self.world.application_id)
        self.gateway = GatewayServer(
            config, self.world, self.notifier, lambda: self.ws_url(resume=True)
        )
        self.requests = RequestLog()
        self.unknown_routes = RequestLog()
        self.internal_errors: list[str] = []  # exceptions inside the emulator (its own bugs)
        self.interactions: dict[int, InteractionRecord] = {}
        self.by_token: dict[str, InteractionRecord] = {}
        self.write_limits = ChannelWriteLimiter()

    # -- basics --------------------------------------------------------------------------------
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def ws_url(self, *, resume: bool = False) -> str:
        base = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{base}/ws-resume" if resume else f"{base}/ws"

    def notify(self) -> None:
        self.notifier.notify()

    def record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        self.notify()

    # -- lookups -------------------------------------------------------------------------------
    def channel(self, channel_id: Any) -> tuple[Channel, Guild | None]:
        try:
            found = self.world.channel_by_id(int(channel_id))
        except (TypeError, ValueError):
            found = None
        if found is None:
            raise unknown("Channel")
        return found

    def guild(self, guild_id: Any) -> Guild:
        try:
            return self.world.guilds[int(guild_id)]
        except (KeyError, TypeError, ValueError):
            raise unknown("Guild") from None

    def upload_limit(self, guild_id: int | None) -> int:
        return self.rules.upload_limit(guild_id)

    def admit_write(self, route: str, params: dict[str, str]) -> WriteDecision | None:
        """The per-channel write limit for a channel message create, edit or delete (every
        one is recorded); None for other routes, or when the rule is off."""
        if route not in CHANNEL_WRITE_ROUTES:
            return None
        try:
            channel_id = int(params["channel_id"])
        except (KeyError, ValueError):
            return None
        rules = self.rules
        return self.write_limits.admit(
            channel_id, self.now(), rules.channel_write_limit, rules.channel_write_window
        )

    # -- events --------------------------------------------------------------------------------
    def message_event(self, event: str, message: StoredMessage) -> None:
        """MESSAGE_CREATE / MESSAGE_UPDATE for a non-ephemeral message, to the session(s) of
        the shard owning its guild (shard 0 for a DM), with the content hidden as Discord
        hides it from a session without the message content intent."""
        if message.ephemeral:
            return
        intent = INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        bot_id = self.world.bot_user.id
        for session in self.gateway.targets(message.guild_id):
            data = self.messages.render(message)
            privileged = bool(session.intents & INTENT_MESSAGE_CONTENT)
            if not (
                privileged
                or message.author_id == bot_id
                or message.guild_id is None
                or bot_id in message.mentions
            ):
                data.update(content="", embeds=[], attachments=[], components=[])
            if message.guild_id is not None:
                data["guild_id"] = str(message.guild_id)
                guild = self.world.guilds.get(message.guild_id)
                member = guild.members.get(message.author_id) if guild else None
                if member is not None:
                    data["member"] = member.payload(with_user=False)
            self.gateway.dispatch_soon(event, data, intent=intent, session=session)

    def message_delete_event(self, message: StoredMessage) -> None:
        if message.ephemeral or not self.gateway.targets(message.guild_id):
            return
        data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        intent = INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        self.gateway.dispatch_soon("MESSAGE_DELETE", data, intent=intent, guild_id=message.guild_id)

    def _world_event(self, guild_id: int | None, event: str, data: dict[str, Any]) -> None:
        gateway = getattr(self, "gateway", None)
        if gateway is not None and gateway.targets(guild_id):
            intent = INTENT_GUILD_MEMBERS if event.startswith("GUILD_MEMBER") else INTENT_GUILDS
            gateway.dispatch_soon(event, copy.deepcopy(data), intent=intent, guild_id=guild_id)
