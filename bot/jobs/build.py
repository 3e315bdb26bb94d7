"""The one place a job engine is wired: settings in, store, providers, prices and engine out.

Why this module exists: the Discord client, the terminal front end, the tests and the
benchmarks all need the same engine; wiring it four times let the four drift apart (a default
here, a retry policy there). :func:`build_engine` opens the store named by the settings, builds
the provider clients on the caller's HTTP session, loads the price table and returns the
engine, not yet started. The caller owns the session and closes ``engine.store`` after
``engine.stop()``.

What it must never do: start the engine, or read anything that is not in ``Settings`` (tests
and benchmarks pass their changes as arguments).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.config import Settings
from bot.jobs.delivery import Deliverer
from bot.jobs.engine import JobEngine
from bot.jobs.engine_config import EngineConfig
from bot.jobs.storage import open_store
from bot.pricing import PriceTable
from bot.providers import Providers, RetryPolicy
from bot.telemetry import NO_TELEMETRY, Telemetry


async def build_engine(
    settings: Settings,
    session: aiohttp.ClientSession,
    deliverer: Deliverer,
    *,
    prices: PriceTable | None = None,
    create_retry: RetryPolicy | None = None,
    poll_retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.time,
    telemetry: Telemetry = NO_TELEMETRY,
    **config: Any,
) -> JobEngine:
    """An engine on the store named by the settings (PostgreSQL at ``WANBOT_DATABASE_URL``,
    else the SQLite file at ``settings.database_path``); ``config`` overrides
    :class:`~bot.jobs.engine_config.EngineConfig` fields by name. ``telemetry`` receives what
    the engine, the outbox and the provider clients report (:mod:`bot.metrics` in the bot)."""
    prices = prices if prices is not None else PriceTable.load(settings.price_table)
    providers = Providers(
        settings, session, create_retry=create_retry, poll_retry=poll_retry, telemetry=telemetry
    )
    url = settings.database_url.get_secret_value() if settings.database_url else None
    store = await open_store(settings.database_path, url)
    return JobEngine(
        store,
        providers,
        prices,
        deliverer,
        session,
        EngineConfig.from_settings(settings, **config),
        clock=clock,
        telemetry=telemetry,
    )
