"""What ``python -m bot run`` checks before it contacts Discord: files and folders it will need.

Why this module exists: the bot opens its database and media folder only once it has logged in
to Discord, so an unusable ``WANBOT_DATABASE`` path or a missing ``WANBOT_PRICE_TABLE`` file used
to surface after the log-in, as a traceback. Each is checked here first and becomes one line
naming the setting to change.

What it must never do: change anything the bot would not (it creates the folders the bot
would create, nothing else), or hold the database: the bot takes its own lock moments later.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.jobs.storage import DatabaseInUse, ProcessLock
from bot.pricing import PriceTable, PriceTableError


def preflight(settings: Settings) -> None:
    """Raise :class:`~bot.config.ConfigError` (one line naming the setting) when the price
    table, the database or the media folder cannot be used."""
    try:
        PriceTable.load(settings.price_table)
    except PriceTableError as exc:
        raise ConfigError(f"{exc} (WANBOT_PRICE_TABLE)") from None
    if settings.database_url is None:  # PostgreSQL: reached (and named) when the store opens
        _usable_folder(settings.database_path.parent, "WANBOT_DATABASE")
        _usable_database(settings.database_path)
    _usable_folder(settings.resolved_media_dir, "WANBOT_MEDIA_DIR")


def _usable_folder(folder: Path, setting: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{setting}: cannot create the folder {folder} ({exc.strerror})"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}: the folder {folder} is not writable by this user")


def _usable_database(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise ConfigError(f"WANBOT_DATABASE: {path} is not a file")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"WANBOT_DATABASE: {path} is not readable and writable by this user")
    lock = ProcessLock(path)
    try:
        lock.acquire()
    except DatabaseInUse as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"WANBOT_DATABASE: cannot lock {lock.path} ({exc.strerror})") from None
    try:
        if path.exists():
            uri = f"{path.resolve().as_uri()}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            f"WANBOT_DATABASE: {path} is not a usable SQLite database ({exc})"
        ) from None
    finally:
        lock.release()
