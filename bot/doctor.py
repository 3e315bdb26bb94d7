"""``python -m bot doctor``: every setting and every outside party checked, one line each.

Why this module exists: an operator finds out that a key is wrong, a folder is not writable or
the token was reset from members, hours later, or from a traceback. The doctor asks each party
once, harmlessly, before the bot is trusted with members' money: the settings, the database and
its migrations (read-only, so it may run beside the bot; on PostgreSQL also how many bot
processes hold a lease), each provider key that serves a model
(a look at a task that cannot exist: 404 means the key was accepted, 401 names the key; a key
that is not set only switches its models off, unless no model is left), the Discord token (the
application it belongs to), and it prints the invite link with the exact permissions the bot
needs.

What it must never do: write to the database or create anything upstream (no task, no
message), print a secret, or stop at the first failure (every check runs; the exit status is 1
if any failed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord

from bot.availability import key_variable, usable_models
from bot.catalog import CATALOG, MODEL_IDS, ModelSpec, resolve, spec_for
from bot.config import ConfigError, ProviderName, Settings, load_settings
from bot.discord_ui.client import REQUIRED_PERMISSIONS
from bot.jobs.connectors import StoreUnavailable
from bot.jobs.connectors.postgres import describe_url, look_read_only
from bot.jobs.migrations import latest_version
from bot.pricing import PriceTable, PriceTableError
from bot.providers import poll_path
from bot.providers.errors import (
    AuthenticationFailed,
    Forbidden,
    ProviderError,
    ProviderUnavailable,
    TaskNotFound,
)
from bot.providers.http import ProviderHTTP, RetryPolicy
from bot.webhooks.signatures import SignatureVerifier

# A task id no provider has issued: looking it up proves the key without creating anything.
PROBE_TASK = "00000000-0000-4000-8000-00000000d0c7"
INVITE = (
    "https://discord.com/oauth2/authorize?client_id={app}"
    "&scope=bot+applications.commands&permissions={permissions}"
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def run_doctor(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(Check("settings", False, str(exc)).line())
        return 1
    checks = [Check("settings", True, "read from the environment and ./.env")]
    checks += asyncio.run(_diagnose(settings))
    for check in checks:
        print(check.line())
    return 0 if all(check.ok for check in checks) else 1


async def _diagnose(settings: Settings) -> list[Check]:
    checks = [_price_table(settings)]
    if settings.database_url is None:
        checks += _database(settings)
    else:
        checks += [await _postgres(settings.database_url.get_secret_value()), _media(settings)]
    some_usable = bool(usable_models(settings))
    async with aiohttp.ClientSession() as session:
        for provider, models in _models_by_provider(settings).items():
            checks.append(await _provider(settings, session, provider, models, some_usable))
        checks.append(await _http_server(settings, session))
        if settings.mulerouter_webhook_secret is not None:
            checks.append(_webhook_secret(settings))
    checks += await _discord(settings)
    return checks


async def _http_server(settings: Settings, session: aiohttp.ClientSession) -> Check:
    """Either a bot already serves health checks there, or the address is free to listen on."""
    if settings.http_port is None:
        return Check("http", True, "off (WANBOT_HTTP_PORT): no health checks, metrics or webhooks")
    host, port = settings.http_host, settings.http_port
    where = f"{host}:{port}"
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
        async with session.get(
            f"http://{probe_host}:{port}/healthz", timeout=aiohttp.ClientTimeout(total=3)
        ) as answer:
            if answer.status == 200:
                return Check("http", True, f"a bot already answers /healthz on {where}")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        return Check(
            "http",
            False,
            f"cannot listen on {where} ({exc.strerror or exc}): check WANBOT_HTTP_HOST and "
            "WANBOT_HTTP_PORT",
        )
    return Check("http", True, f"{where} is free to listen on (/healthz, /readyz, /metrics)")


def _webhook_secret(settings: Settings) -> Check:
    assert settings.mulerouter_webhook_secret is not None
    try:
        SignatureVerifier(settings.mulerouter_webhook_secret, setting="MULEROUTER_WEBHOOK_SECRET")
    except ConfigError as exc:
        return Check("webhook secret", False, str(exc))
    if settings.http_port is None:
        return Check(
            "webhook secret",
            False,
            "MULEROUTER_WEBHOOK_SECRET is set but WANBOT_HTTP_PORT is off: no webhook is received",
        )
    return Check("webhook secret", True, "MULEROUTER_WEBHOOK_SECRET is a usable whsec_ secret")


def _price_table(settings: Settings) -> Check:
    if settings.price_table is None:
        return Check("prices", True, "the built-in reference prices (WANBOT_PRICE_TABLE unset)")
    try:
        PriceTable.load(settings.price_table)
    except PriceTableError as exc:
        return Check("prices", False, f"{exc} (WANBOT_PRICE_TABLE)")
    return Check("prices", True, f"read from {settings.price_table}")


def _database(settings: Settings) -> list[Check]:
    path = settings.database_path
    checks = []
    folder = path.parent
    if not folder.is_dir():
        checks.append(
            Check("database", False, f"the folder {folder} does not exist (WANBOT_DATABASE)")
        )
    elif not os.access(folder, os.W_OK | os.X_OK):
        checks.append(
            Check("database", False, f"the folder {folder} is not writable (WANBOT_DATABASE)")
        )
    elif not path.exists():
        checks.append(Check("database", True, f"{path} will be created at the first start"))
    else:
        checks.append(_schema(path))
    checks.append(_media(settings))
    return checks


def _media(settings: Settings) -> Check:
    media = settings.resolved_media_dir
    media_parent = next((p for p in (media, *media.parents) if p.exists()), None)
    if media_parent is None or not os.access(media_parent, os.W_OK | os.X_OK):
        return Check("media", False, f"{media} cannot be created (WANBOT_MEDIA_DIR)")
    return Check("media", True, f"{media} is writable")


async def _postgres(url: str) -> Check:
    """The shared database: reachable, its migrations, and how many bot processes use it."""
    where = describe_url(url)
    try:
        look = await look_read_only(url, time.time())
    except StoreUnavailable as exc:
        return Check("database", False, f"{exc} (WANBOT_DATABASE_URL)")
    latest = latest_version("postgres")
    running = {0: "no bot process running", 1: "1 bot process running"}.get(
        look.live_instances, f"{look.live_instances} bot processes running"
    )
    if look.version > latest:
        return Check(
            "database",
            False,
            f"{where} has schema {look.version}, newer than this wanbot ({latest})",
        )
    if look.version == 0:
        return Check("database", True, f"{where}: empty, migrated to {latest} at the first start")
    if look.version < latest:
        return Check(
            "database", True, f"{where}: schema {look.version}, migrated to {latest} at start"
        )
    return Check("database", True, f"{where}: schema {look.version} (up to date), {running}")


def _schema(path: Path) -> Check:
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        return Check("database", False, f"{path} cannot be read ({exc}) (WANBOT_DATABASE)")
    latest = latest_version()
    if verdict != "ok":
        return Check("database", False, f"{path} is damaged (quick_check: {verdict})")
    if version > latest:
        return Check(
            "database", False, f"{path} has schema {version}, newer than this wanbot ({latest})"
        )
    if version < latest:
        return Check("database", True, f"{path}: schema {version}, migrated to {latest} at start")
    return Check("database", True, f"{path}: schema {version} (up to date)")


def _models_by_provider(settings: Settings) -> dict[ProviderName, list[str]]:
    """Every provider that serves a model or has a key set, with the models it serves."""
    served: dict[ProviderName, list[str]] = {}
    for model in MODEL_IDS:
        served.setdefault(resolve(model, settings).provider, []).append(model)
    for provider in ProviderName:
        with contextlib.suppress(ConfigError):
            settings.api_key(provider)
            served.setdefault(provider, [])
    return dict(sorted(served.items()))


async def _provider(
    settings: Settings,
    session: aiohttp.ClientSession,
    provider: ProviderName,
    models: list[str],
    some_usable: bool,
) -> Check:
    name = f"{provider.value} key"
    variable = key_variable(provider)
    try:
        key = settings.api_key(provider)
    except ConfigError as exc:
        if some_usable:  # the bot starts without it: its models are off, not broken
            off = f"{', '.join(models)} {'is' if len(models) == 1 else 'are'} off"
            return Check(name, True, f"{variable} is not set, so {off} on this bot")
        return Check(name, False, f"{exc} (it serves {', '.join(models)})")
    http = ProviderHTTP(
        session,
        provider=provider,
        base_url=settings.base_url(provider),
        api_key=key,
        timeout=min(settings.http_timeout, 15.0),
        poll_retry=RetryPolicy(attempts=1),
    )
    where = settings.base_url(provider)
    probe = spec_for(models[0], provider) if models else _any_spec(provider)
    try:
        await http.get(poll_path(probe, PROBE_TASK))
    except TaskNotFound:
        return Check(name, True, f"{variable} accepted by {where}{_serving(models)}")
    except AuthenticationFailed:
        return Check(name, False, f"{variable} was refused by {where} (401): check the key")
    except Forbidden:
        return Check(name, False, f"{variable} may not use {where} (403): check its access")
    except (ProviderUnavailable, aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Check(
            name,
            False,
            f"{where} is unreachable or unavailable ({exc}): check "
            f"{provider.value.upper()}_BASE_URL and the network",
        )
    except ProviderError as exc:
        return Check(name, False, f"{where} answered: {exc}")
    return Check(name, True, f"{variable} accepted by {where}{_serving(models)}")


def _any_spec(provider: ProviderName) -> ModelSpec:
    return next(spec for spec in CATALOG if spec.provider is provider)


def _serving(models: list[str]) -> str:
    return "" if models else " (it serves no model under the current settings)"


async def _discord(settings: Settings) -> list[Check]:
    try:
        token = settings.require_discord_token().get_secret_value()
    except ConfigError as exc:
        return [Check("discord", False, str(exc))]
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        application = await http.application_info()
    except discord.LoginFailure:
        return [
            Check(
                "discord",
                False,
                "DISCORD_TOKEN was refused by Discord: reset it in the "
                "developer portal and set the new one",
            )
        ]
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError) as exc:
        return [Check("discord", False, f"Discord is unreachable ({type(exc).__name__})")]
    finally:
        await http.close()
    app_id = application["id"]
    invite = INVITE.format(app=app_id, permissions=REQUIRED_PERMISSIONS.value)
    return [
        Check("discord", True, f"DISCORD_TOKEN belongs to {application.get('name', app_id)!r}"),
        Check("invite", True, invite),
    ]
