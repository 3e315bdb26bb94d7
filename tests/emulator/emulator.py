"""``DiscordEmulator``: Discord's HTTP API v10, gateway and CDN on loopback, and the test API
that plays users and reads back what the bot did.

Why this module exists: tests start the unmodified bot as a process pointed here
(``tests.emulator.launch``), then drive it as users would: slash commands, clicks, modals,
autocomplete, and assert on messages, responses, requests and gateway sessions.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.emulator import rest_basic, rest_commands, rest_interactions, rest_messages
from tests.emulator.acting import UserActions
from tests.emulator.cdn import Cdn
from tests.emulator.config import EmulatorConfig
from tests.emulator.errors import not_found_route
from tests.emulator.gateway import GatewayServer, Session
from tests.emulator.handles import InteractionHandle
from tests.emulator.interaction_builder import InteractionBuilder
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, Guild, User
from tests.emulator.recorder import RecordedRequest, RequestLog
from tests.emulator.router import API_PREFIX, Router
from tests.emulator.state import EmulatorState
from tests.emulator.validation import localized
from tests.emulator.write_limits import ChannelWriteLimiter, ChannelWrites


class DiscordEmulator(UserActions):
    """``async with DiscordEmulator(EmulatorConfig(heartbeat_interval_ms=1000)) as discord:``"""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        config = config or EmulatorConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.state = EmulatorState(config)
        self._default_guild = (
            self.state.world.build_default_guild(config.guild_name)
            if config.default_guild
            else None
        )
        self._builder = InteractionBuilder(self.state)
        self._router = Router(self.state)
        for module in (rest_basic, rest_commands, rest_messages, rest_interactions):
            module.register(self._router)
        self._runner: web.AppRunner | None = None
        self.handles: list[InteractionHandle] = []

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=self.config.max_request_bytes)
        app.router.add_route("*", "/{tail:.*}", self._dispatch_http)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.host, self.config.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        self.state.base_url = f"http://{host}:{port}"
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await self.state.gateway.close()
            await runner.cleanup()

    async def __aenter__(self) -> DiscordEmulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _dispatch_http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
            return await self._router.handle(request)
        if path in ("/ws", "/ws-resume") and request.headers.get("Upgrade", "").lower() == (
            "websocket"
        ):
            return await self.state.gateway.handle(request)
        for prefix in ("/cdn/", "/media/"):
            if path.startswith(prefix):
                return await self.state.cdn.handle(request, path[len(prefix) :])
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            at=self.state.now(),
            status=404,
            response=not_found_route().body(),
        )
        self.state.record(record)
        self.state.unknown_routes.append(record)
        return web.Response(
            status=404,
            body=b'{"message": "404: Not Found", "code": 0}',
            headers={"Content-Type": "application/json"},
        )

    # -- addresses -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: what ``WANBOT_TEST_DISCORD_URL`` is set to."""
        return self.state.base_url

    @property
    def api_url(self) -> str:
        return self.state.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.state.ws_url()

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a bot process: the emulator's URL and the bot token."""
        return {"WANBOT_TEST_DISCORD_URL": self.url, "DISCORD_TOKEN": self.config.token, **extra}

    # -- the world -----------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.config.token

    @property
    def application_id(self) -> int:
        return self.state.world.application_id

    @property
    def bot_user(self) -> User:
        return self.state.world.bot_user

    @property
    def guild(self) -> Guild:
        """The default server: channels ``general``, ``nsfw-art`` (age-restricted), ``audit``
        (staff only), category ``Text Channels``; users ``alice``, ``bob`` (role ``member``),
        ``staff`` (roles ``member`` + ``staff``: MANAGE_GUILD | MANAGE_MESSAGES), ``owner``."""
        if self._default_guild is None:
            raise RuntimeError("this emulator was made without the default guild")
        return self._default_guild

    @property
    def guilds(self) -> dict[int, Guild]:
        return self.state.world.guilds

    @property
    def users(self) -> dict[str, User]:
        return {u.username: u for u in self.state.world.users.values()}

    def user(self, ref: User | int | str) -> User:
        return self.state.world.user(ref)

    def add_user(
        self,
        username: str,
        *,
        guild: Guild | None = None,
        roles: list[Any] | None = None,
        bot: bool = False,
    ) -> User:
        """A new user, made a member of ``guild`` (the default one) with ``roles``."""
        user = self.state.world.add_user(username, bot=bot)
        target = guild or self._default_guild
        if target is not None:
            target.add_member(user, roles=roles)
        return user

    def add_guild(
        self,
        name: str,
        *,
        premium_tier: int = 0,
        shard: tuple[int, int] | None = None,
        layout: bool = False,
        preferred_locale: str = "en-US",
    ) -> Guild:
        """A new server the bot is in (it gets GUILD_CREATE on the shard that owns it).
        ``shard=(k, n)``: its id lands on gateway shard ``k`` of ``n``. ``layout=True``: the
        default server's roles, channels (``general``...) and members (the same ``alice``,
        ``bob``, ``staff`` users) as well. ``preferred_locale``: the server's community language
        (``zh-CN``…), sent in GUILD_CREATE and as ``guild_locale`` with every interaction."""
        guild = self.state.world.add_guild(
            name, premium_tier=premium_tier, shard=shard, layout=layout
        )
        guild.preferred_locale = preferred_locale
        gateway = self.state.gateway
        if gateway.targets(guild.id):
            gateway.dispatch_soon(
                "GUILD_CREATE",
                guild.create_payload(bot_id=self.bot_user.id, all_members=False),
                guild_id=guild.id,
            )
        return guild

    def channel(self, ref: Channel | str | int) -> Channel:
        """A channel by object, id, or name in the default guild."""
        if isinstance(ref, Channel):
            return ref
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.state.channel(ref)[0]
        return self.guild.channel(ref)

    def dm_channel(self, user: User | str | int) -> Channel:
        """The DM channel with ``user`` (the one ``POST /users/@me/channels`` opens)."""
        return self.state.world.dm_channel(self.user(user))

    def dm_messages(self, user: User | str | int) -> list[StoredMessage]:
        """Messages in the DM channel with ``user``, oldest first (deleted ones left out)."""
        return self.messages(self.dm_channel(user))

    def set_permissions(
        self,
        channel: Channel | str | int,
        target: Any,
        *,
        allow: int = 0,
        deny: int = 0,
    ) -> Channel:
        """Set a channel permission overwrite for a role or member (an object, or a role or
        user name): e.g. ``set_permissions("general", "WanBot", deny=ATTACH_FILES)`` makes the
        bot's uploads there 403 / 50013. ``allow=deny=0`` removes it. The bot gets
        CHANNEL_UPDATE."""
        chan = self.channel(channel)
        return self._guild_of_channel(chan).set_permissions(chan, target, allow=allow, deny=deny)

    def delete_channel(self, channel: Channel | str | int) -> Channel:
        """Delete a guild channel: the bot gets CHANNEL_DELETE and every later request to it
        404 / 10003 Unknown Channel. Keep the returned object to read its messages."""
        chan = self.channel(channel)
        return self._guild_of_channel(chan).remove_channel(chan)

    def _guild_of_channel(self, channel: Channel) -> Guild:
        if channel.guild_id is None:
            raise ValueError("only guild channels have permission overwrites or can be deleted")
        return self.state.world.guilds[channel.guild_id]

    # -- rules, logs, gateway, cdn -------------------------------------------------------------
    @property
    def gateway(self) -> GatewayServer:
        return self.state.gateway

    @property
    def cdn(self) -> Cdn:
        return self.state.cdn

    @property
    def requests(self) -> RequestLog:
        return self.state.requests

    @property
    def unknown_routes(self) -> RequestLog:
        return self.state.unknown_routes

    @property
    def write_limits(self) -> ChannelWriteLimiter:
        """Every channel's message writes (``.channels[channel_id]``); see ``channel_writes``."""
        return self.state.write_limits

    def channel_writes(self, channel: Channel | str | int) -> ChannelWrites:
        """The bot's message creates, edits and deletes in ``channel`` through the channel
        routes: ``accepted`` (loop times of writes the write limit let through, recorded even
        when the limit is off), ``limited`` / ``rate_limited`` (answered 429), and
        ``max_in_window(seconds)``."""
        chan = channel if isinstance(channel, Channel) else self.channel(channel)
        return self.state.write_limits.writes(chan.id)

    @property
    def internal_errors(self) -> list[str]:
        """Exceptions raised inside the emulator's handlers (answered as 500): its own bugs."""
        return self.state.internal_errors

    # -- waiting for the bot -------------------------------------------------------------------
    async def wait_ready(
        self, timeout: float = 30.0, *, identifies: int | None = None, commands: bool = False
    ) -> Session:
        """Wait until a bot session is identified, connected and has every GUILD_CREATE.
        ``identifies=n``: wait for the n-th IDENTIFY (e.g. 2 after a restart).
        ``commands=True``: also wait until some commands are registered (any scope).
        (discord.py fires ``on_ready`` about 2 s later; interactions work before that.)"""
        gateway = self.state.gateway
        registry = self.state.commands

        def check() -> Session | None:
            session = gateway.current
            if identifies is not None and gateway.identifies < identifies:
                return None
            if session is None or not session.handshake_done or gateway.connection is None:
                return None
            if commands and not any(registry.scopes.values()):
                return None
            return session

        return await self.state.notifier.wait_for(check, timeout, "the bot to identify")

    async def wait_shards(
        self,
        shard_count: int,
        timeout: float = 30.0,
        *,
        shards: list[int] | None = None,
        identifies: int | None = None,
    ) -> dict[int, Session]:
        """Wait until every shard of a deployment of ``shard_count`` (or only ``shards``) has a
        live session, identified with ``[shard_id, shard_count]``, connected and with all its
        GUILD_CREATEs; returns them by shard id. ``identifies=n``: only once the emulator has
        had n IDENTIFYs in all (e.g. after one shard's process restarted)."""
        gateway = self.state.gateway
        wanted = list(range(shard_count)) if shards is None else list(shards)

        def check() -> dict[int, Session] | None:
            if identifies is not None and gateway.identifies < identifies:
                return None
            found: dict[int, Session] = {}
            for session in gateway.live:
                if session.shard is None or session.shard[1] != shard_count:
                    continue
                conn = session.connection
                if session.handshake_done and conn is not None and conn.open:
                    found[session.shard[0]] = session
            if not set(wanted) <= set(found):
                return None
            return {shard: found[shard] for shard in wanted}

        return await self.state.notifier.wait_for(
            check, timeout, f"shards {wanted} of {shard_count} to identify"
        )

    async def wait_commands(
        self, timeout: float = 30.0, *, guild: Any = None, names: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Wait until commands are registered in the scope (global, or ``guild``)."""
        scope = self._scope(guild)
        registry = self.state.commands

        def check() -> list[dict[str, Any]] | None:
            commands = registry.scopes.get(scope) or []
            have = {c["name"] for c in commands}
            if not commands or (names and not set(names) <= have):
                return None
            return registry.list(scope)

        return await self.state.notifier.wait_for(check, timeout, "command registration")

    def commands(self, guild: Any = None) -> list[dict[str, Any]]:
        """Registered commands (full schema) in one scope: global, or ``guild``'s."""
        return self.state.commands.list(self._scope(guild))

    def command(self, name: str, guild: Any = None) -> dict[str, Any]:
        """A registered command as a user in ``guild`` (default guild) sees it."""
        target = (
            self._scope(guild)
            if guild is not None
            else (self._default_guild.id if self._default_guild else None)
        )
        found = self.state.commands.find(name, target)
        if found is None:
            raise KeyError(f"no registered command {name!r}")
        return found[0]

    def command_as_seen(self, name: str, locale: str, guild: Any = None) -> dict[str, Any]:
        """:meth:`command` as a Discord client set to ``locale`` (``zh-CN``…) shows it: names,
        descriptions and choices in their ``*_localizations`` where given, else the default."""
        return localized(self.command(name, guild), locale)

    def _scope(self, guild: Any) -> int | None:
        if guild is None:
            return None
        return self.state.world.guild(guild).id

    # -- reading messages ----------------------------------------------------------------------
    def messages(
        self,
        channel: Channel | str | int,
        *,
        include_ephemeral: bool = True,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Messages of ``channel`` in creation order, in their current state."""
        chan = self.channel(channel)
        return [
            m
            for m in self.state.messages.in_channel(chan.id)
            if (include_ephemeral or not m.ephemeral) and (include_deleted or not m.deleted)
        ]

    def message(self, message_id: int | str) -> StoredMessage:
        found = self.state.messages.get(int(message_id))
        if found is None:
            raise KeyError(message_id)
        return found

    async def wait_for_message(
        self,
        channel: Channel | str | int | None = None,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 10.0,
        *,
        after: StoredMessage | int | None = None,
        include_ephemeral: bool = True,
    ) -> StoredMessage:
        """The first message (oldest first, current state) matching ``predicate`` in
        ``channel`` (any channel if None), newer than ``after`` if given."""
        chan = self.channel(channel) if channel is not None else None
        floor = int(getattr(after, "id", after) or 0)
        store = self.state.messages

        def check() -> StoredMessage | None:
            pool = store.in_channel(chan.id) if chan is not None else store.by_id.values()
            for message in pool:
                if message.deleted or message.id <= floor:
                    continue
                if message.ephemeral and not include_ephemeral:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.state.notifier.wait_for(check, timeout, "a matching message")
