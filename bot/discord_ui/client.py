"""The ``commands.Bot`` subclass: start-up, shared resources, command sync, shutdown.

Why this module exists: following RoboDanny's shape, the bot owns what the cogs share (settings,
one HTTP session, the store, the job engine) and builds it in ``setup_hook``, where it also
loads one extension per command family from ``cogs/``, registers the persistent buttons and
resumes every job left in flight. Cogs stay thin and reach the core through the bot.

The pieces that make it wanbot's (the command tree, the buttons, the deliverer) are handed in
by :mod:`bot.discord_ui.app`, so this module imports nothing else of ``bot.discord_ui``.

The HTTP server (:mod:`bot.http_server`: provider webhooks, ``/healthz`` and ``/readyz`` of
:mod:`bot.health`, ``/metrics`` of :mod:`bot.metrics`) starts once the engine follows every
resumed job, so no event finds its job unknown, and stops first at shutdown. Readiness is the
gateway connected (between ``on_ready``/``on_resumed`` and ``on_disconnect``), the database
writable, and the scheduler's and the outbox's loops running.

Gateway shards (``WANBOT_SHARD_COUNT``, ``WANBOT_SHARD_IDS``): :func:`bot_class` picks
:class:`ShardedWanBot`, on discord.py's ``AutoShardedBot``, which runs this process's shards
(all of them when no ids are given) over one HTTP client; without a shard count the bot is the
plain one-session ``commands.Bot`` as before. Several processes may each run some shards of one
deployment: only the one running shard 0 (or an unsharded bot) syncs the slash commands, and a
sharded process is ready only while every one of its shards is connected. Every process keeps
to its share of Discord's global 50 requests a second (:meth:`WanBot.set_discord_share`,
:class:`~bot.discord_ui.rate_limits.RequestLimiter`).

Shutdown: SIGTERM (``docker stop``) and SIGINT close the bot, which stops the engine (no new
submissions, in-flight requests get a few seconds, state is already persisted) well inside
Docker's 10-second grace period.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import logging
import pkgutil
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands, tasks

import cogs
from bot.blocklist import warm_up as warm_up_blocklist
from bot.config import Settings
from bot.discord_ui.rate_limits import RateLimitCounter, RequestLimiter
from bot.discord_ui.translator import WanTranslator
from bot.health import HealthChecks
from bot.http_server import HttpServer
from bot.jobs.build import build_engine
from bot.jobs.delivery import Deliverer
from bot.jobs.engine import JobEngine
from bot.jobs.storage import JobStore
from bot.metrics import Metrics
from bot.pricing import PriceTable
from bot.webhooks import webhook_routes

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 7.0
# Running jobs looked up and handed to the deliverer per refresh tick, in rotation (not the
# writes per tick: the deliverer's channel writer paces those per channel).
MAX_REFRESH_PER_TICK = 50
# What the invite link asks for (README): post, embed, attach, and read back its own posts
# (the outbox searches the channel history to avoid posting a result twice).
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)


def extension_names() -> list[str]:
    """Every module in ``cogs/``, as extension names (``cogs.wan_t2v``…)."""
    return sorted(
        f"cogs.{module.name}"
        for module in pkgutil.iter_modules(cogs.__path__)
        if not module.name.startswith("_")
    )


def refresh_slice(running: Sequence[int], after: int | None, limit: int) -> list[int]:
    """The next ``limit`` of the ``running`` job ids after ``after`` (the last one refreshed),
    in id order, wrapping round to the lowest: a fair rotation over every running job.

    The cursor is a job id, not an index, so jobs that end or start between two ticks neither
    make the rotation skip a job nor repeat one. All of them when they fit.
    """
    ids = sorted(running)
    if limit <= 0:
        return []
    if len(ids) <= limit:
        return ids
    start = 0 if after is None else bisect.bisect_right(ids, after)
    picked = ids[start : start + limit]
    return picked + ids[: limit - len(picked)]


def gateway_shards(settings: Settings) -> tuple[int, tuple[int, ...]] | None:
    """(shard count, the shards this process runs), or ``None`` for one unsharded session."""
    if settings.shard_count is None:
        return None
    return settings.shard_count, settings.shard_ids or tuple(range(settings.shard_count))


def shard_label(shard_ids: Sequence[int]) -> str:
    """``0-3``, ``4,6`` or ``0-1,5``: the shards, consecutive ones as ranges."""
    runs: list[list[int]] = []
    for shard in sorted(shard_ids):
        if runs and shard == runs[-1][-1] + 1:
            runs[-1].append(shard)
        else:
            runs.append([shard])
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def bot_class(settings: Settings) -> type[WanBot]:
    """:class:`ShardedWanBot` when ``WANBOT_SHARD_COUNT`` is set, else :class:`WanBot`."""
    return WanBot if settings.shard_count is None else ShardedWanBot


class WanBot(commands.Bot):
    """The Discord client. Attributes below exist once ``setup_hook`` has run."""

    http_session: aiohttp.ClientSession
    store: JobStore
    engine: JobEngine
    deliverer: Deliverer
    http_server: HttpServer | None

    def __init__(
        self,
        settings: Settings,
        *,
        tree_cls: type[app_commands.CommandTree[Any]],
        dynamic_items: Sequence[type[discord.ui.DynamicItem[Any]]],
        make_deliverer: Callable[[WanBot], Deliverer],
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, roles and permissions; nothing privileged
        self.metrics = Metrics()
        rate_limits = RateLimitCounter(self.metrics.discord_rate_limited)
        self.shard_plan = gateway_shards(settings)
        sharded = isinstance(self, commands.AutoShardedBot)
        if (self.shard_plan is not None) != sharded:
            raise TypeError(f"{type(self).__name__} for these settings: build bot_class(settings)")
        shard_options: dict[str, Any] = {}
        if self.shard_plan is not None:
            count, ids = self.shard_plan
            shard_options = {"shard_count": count, "shard_ids": list(ids)}
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            tree_cls=tree_cls,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            http_trace=rate_limits.trace,
            **shard_options,
        )
        self.discord_requests = RequestLimiter()
        rate_limits.watch(self.http, limiter=self.discord_requests)
        self.settings = settings
        self.prices = PriceTable.load(settings.price_table)
        self._dynamic_items = tuple(dynamic_items)
        self._make_deliverer = make_deliverer
        self._closing: asyncio.Future[None] | None = None
        self._refresh_cursor: int | None = None  # the last job id the status refresh took
        self.http_server = None
        self._gateway_up = False
        self._shards_up: set[int] = set()  # sharded: the shards READY or RESUMED, still up

    @property
    def syncs_commands(self) -> bool:
        """This process syncs the slash commands: it is unsharded, or runs shard 0."""
        return self.shard_plan is None or 0 in self.shard_plan[1]

    def set_discord_share(self, fraction: float) -> None:
        """Keep this process to ``fraction`` (0 < fraction <= 1) of the bot's 50 Discord
        requests a second from now on, e.g. ``1 / live_processes``; 1.0 until called."""
        if fraction != self.discord_requests.share:
            log.info("Discord requests: this process takes %.0f%% of 50 a second", fraction * 100)
        self.discord_requests.set_share(fraction)

    async def setup_hook(self) -> None:
        self.http_session = aiohttp.ClientSession()
        self.deliverer = self._make_deliverer(self)
        self.engine = await build_engine(
            self.settings,
            self.http_session,
            self.deliverer,
            prices=self.prices,
            telemetry=self.metrics,
        )
        self.store = self.engine.store
        # Discord's 50 requests a second are the token's, shared like the provider rates.
        self.engine.share_listeners.append(self.set_discord_share)
        server = self._http_server()  # a bad webhook secret stops start-up before any job runs
        # The blocklist's Unicode tables (~0.2 s) are built now, not in a member's first command.
        await asyncio.to_thread(warm_up_blocklist)
        self.add_dynamic_items(*self._dynamic_items)
        # Descriptions and choices in each member's language (compiles the catalogs now).
        await self.tree.set_translator(WanTranslator())
        for name in extension_names():
            await self.load_extension(name)
        if self.shard_plan is not None:
            count, ids = self.shard_plan
            log.info(
                "gateway shards %s of %d (%s)",
                shard_label(ids),
                count,
                "this process syncs the slash commands"
                if self.syncs_commands
                else "the process running shard 0 syncs the slash commands",
            )
        if self.syncs_commands:
            await self._sync_commands_if_changed()
        await self.engine.start()
        if server is not None:
            self.http_server = server
            await server.start()
        self.refresh_status_messages.change_interval(seconds=self.settings.status_refresh_seconds)
        self.refresh_status_messages.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _http_server(self) -> HttpServer | None:
        """The HTTP server with its routes (not yet listening); ``None`` when turned off."""
        settings = self.settings
        routes = webhook_routes(settings, self.engine, self.store)
        if settings.http_port is None:
            if routes:
                log.warning(
                    "MULEROUTER_WEBHOOK_SECRET is set but WANBOT_HTTP_PORT is off: webhooks "
                    "are not received; tasks are polled as usual"
                )
            return None
        server = HttpServer(settings.http_host, settings.http_port)
        server.add_routes(routes)
        server.add_routes(self._health_checks().routes())
        server.add_routes(self.metrics.routes(self.store))
        return server

    def _health_checks(self) -> HealthChecks:
        async def database() -> bool:
            await self.store.check_writable(time.time())
            return True

        return HealthChecks(
            {
                "gateway": lambda: self.gateway_connected,
                "database": database,
                "scheduler": lambda: self.engine.scheduler.alive,
                "outbox": lambda: self.engine.outbox.alive,
            }
        )

    @property
    def gateway_connected(self) -> bool:
        """The gateway session is up: READY or RESUMED received since the last disconnect.
        Sharded: every shard of this process is (each READY, with its servers, or RESUMED
        since its last disconnect)."""
        if self.is_closed():
            return False
        if self.shard_plan is None:
            return self._gateway_up
        return self._shards_up >= set(self.shard_plan[1])

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s received: shutting down", sig.name)
        asyncio.get_running_loop().create_task(self.close())

    @tasks.loop(seconds=30)
    async def refresh_status_messages(self) -> None:
        """Elapsed time and ETA move even when the provider reports nothing new (MuleRouter
        reports no progress).

        Each tick hands the deliverer the next ``MAX_REFRESH_PER_TICK`` running jobs after
        the last one refreshed, wrapping round (:func:`refresh_slice`), so with N running jobs
        every one is refreshed at least every ``ceil(N / MAX_REFRESH_PER_TICK)`` ticks. The
        deliverer only queues the edit (latest state per message) in a per-channel writer that
        keeps to Discord's per-channel limit: this loop never waits for Discord, and the
        writes per channel stay within the limit however many jobs share a channel.
        """
        picked = refresh_slice(
            self.engine.running_job_ids(), self._refresh_cursor, MAX_REFRESH_PER_TICK
        )
        if picked:
            self._refresh_cursor = picked[-1]
        for job_id in picked:
            try:
                job = await self.store.get_job(job_id)
                if job is not None:
                    await self.deliverer.job_changed(job)
            except Exception:
                # One bad job must not stop the loop (tasks.loop ends on an exception).
                log.exception("job %d: status refresh failed (ignored)", job_id)

    async def _sync_commands_if_changed(self) -> None:
        """Sync the slash commands only when their definition changed since the last sync.

        Syncing on every start is wasteful and rate-limited; a hash of the payload (and where
        it went) is kept in the database. The server the commands went to last is kept too:
        when ``WANBOT_COMMAND_GUILD_ID`` is removed or changed, that server's copies are
        cleared, or its members would see every command twice (its copy and the global one).
        """
        guild = (
            discord.Object(self.settings.command_guild_id)
            if self.settings.command_guild_id
            else None
        )
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        translator = self.tree.translator  # a changed translation is a changed definition
        payload = [
            await command.get_translated_payload(self.tree, translator)
            if translator is not None
            else command.to_dict(self.tree)
            for command in self.tree.get_commands(guild=guild)
        ]
        digest = hashlib.sha256(
            json.dumps([guild.id if guild else None, payload], sort_keys=True).encode()
        ).hexdigest()
        if await self.store.get_meta("commands_hash") == digest:
            log.info("slash commands unchanged; not syncing")
            return
        synced = await self.tree.sync(guild=guild)
        previous = await self.store.get_meta("commands_guild_id")
        if previous and (guild is None or previous != str(guild.id)):
            stale = discord.Object(int(previous))
            self.tree.clear_commands(guild=stale)
            try:
                await self.tree.sync(guild=stale)
                log.info("cleared the slash commands registered earlier in server %s", previous)
            except discord.HTTPException as exc:  # e.g. the bot has left that server
                log.warning("could not clear the commands in server %s (%s)", previous, exc)
        await self.store.set_meta("commands_guild_id", str(guild.id) if guild else "")
        await self.store.set_meta("commands_hash", digest)
        log.info(
            "synced %d slash commands %s",
            len(synced),
            f"to server {guild.id}" if guild else "globally",
        )

    async def on_ready(self) -> None:
        self._gateway_up = True
        log.info("connected as %s to %d servers", self.user, len(self.guilds))

    async def on_resumed(self) -> None:
        self._gateway_up = True

    async def on_disconnect(self) -> None:
        self._gateway_up = False

    # Sharded only (discord.py's AutoShardedClient sends these; one-session clients do not).
    async def on_shard_ready(self, shard_id: int) -> None:
        self._shards_up.add(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._shards_up.add(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._shards_up.discard(shard_id)

    async def close(self) -> None:
        """Close once; a second caller (signal handler and ``run``'s own exit) waits for the
        first instead of returning while resources are still open."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        # Our resources first: once discord.py's own close() returns, run() ends the event
        # loop and anything still open would be cut off.
        self.refresh_status_messages.cancel()
        if self.http_server is not None:
            await self.http_server.stop()  # no event lands on a stopping engine
        if hasattr(self, "engine"):
            await self.engine.stop(grace=SHUTDOWN_GRACE_SECONDS)
        if hasattr(self, "store"):
            await self.store.close()
        if hasattr(self, "http_session"):
            await self.http_session.close()
        await super().close()


class ShardedWanBot(WanBot, commands.AutoShardedBot):
    """:class:`WanBot` on discord.py's ``AutoShardedBot``: the process's gateway shards
    (``WANBOT_SHARD_IDS``, or all ``WANBOT_SHARD_COUNT`` of them), one session each."""
