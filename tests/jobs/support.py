"""Real parts for engine tests: a deliverer that posts to a file, and an engine builder.

``FileDeliverer`` is a real :class:`~bot.jobs.delivery.Deliverer`: each post is one JSON line,
flushed and fsync'd before the call returns, so a process killed right after posting leaves the
post on disk, exactly like a Discord message that exists although the bot never recorded it.
``find_delivered`` reads the file back, as the Discord deliverer searches its channel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import load_settings
from bot.jobs.build import build_engine as build_job_engine
from bot.jobs.delivery import DeliveryFailed, DeliveryKind
from bot.jobs.engine import JobEngine
from bot.jobs.records import Job
from bot.jobs.storage import JobStore
from bot.pricing import PriceTable
from bot.providers import Providers, RetryPolicy
from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY
from bot.simulator.config import DEFAULT_DURATIONS


class FileDeliverer:
    """Posts are JSON lines in ``path``; message ids count up from 1 across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changes: list[tuple[int, str]] = []  # (job id, state) seen by job_changed
        self.fail_next: int = 0  # the next N posts raise DeliveryFailed (transient)
        self.alerts: list[tuple[int, str]] = []  # (job id, text) seen by alert
        self.raises: list[Exception] = []  # the next posts raise these, in order

    def posts(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    async def find_delivered(
        self, job: Job, kind: DeliveryKind, *, since: float
    ) -> list[int] | None:
        for post in self.posts():
            if post["job_id"] == job.id and post["kind"] == kind.value:
                return [post["message_id"]]
        return None

    async def deliver_result(self, job: Job, files: Sequence[Path]) -> list[int]:
        return [
            self._post(
                job,
                DeliveryKind.RESULT,
                {
                    "files": [file.name for file in files],
                    "sizes": [file.stat().st_size for file in files],
                    "links": [] if files else list(job.result_urls),
                },
            )
        ]

    async def deliver_notice(self, job: Job) -> list[int]:
        return [
            self._post(
                job,
                DeliveryKind.NOTICE,
                {
                    "error_code": job.error_code,
                    "error_message": job.error_message,
                },
            )
        ]

    async def job_changed(self, job: Job) -> None:
        self.changes.append((job.id, job.state.value))

    async def alert(self, job: Job, text: str) -> None:
        self.alerts.append((job.id, text))

    def _post(self, job: Job, kind: DeliveryKind, extra: dict[str, Any]) -> int:
        if self.raises:
            raise self.raises.pop(0)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise DeliveryFailed("simulated posting failure")
        message_id = len(self.posts()) + 1
        line = json.dumps(
            {
                "job_id": job.id,
                "kind": kind.value,
                "message_id": message_id,
                "state": job.state.value,
                **extra,
            }
        )
        with self.path.open("a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return message_id


@dataclass
class EngineParts:
    engine: JobEngine
    store: JobStore
    deliverer: FileDeliverer
    providers: Providers


def fast_timing(speed: float, **overrides: Any) -> dict[str, Any]:
    """Engine constants scaled to a simulator running ``speed`` times faster than real time."""
    values: dict[str, Any] = {
        "poll_min_interval": 0.1,
        "poll_max_interval": 2.0,
        "poll_target_delay": 5.0 / speed,
        "poll_first_look": 0.1,
        "submit_retry_seconds": 0.1,
        "outbox_retry_seconds": 0.05,
        "download_retry_seconds": 0.01,
        "history_refresh_seconds": 0.0,
        "expected_seconds": {
            model: seconds / speed for model, seconds in DEFAULT_DURATIONS.items()
        },
    }
    values.update(overrides)
    return values


async def build_engine(
    base_url: str, folder: Path, session: aiohttp.ClientSession, *, speed: float, **config: Any
) -> EngineParts:
    """A real engine on a real SQLite file in ``folder``, talking to the simulator."""
    settings = load_settings(
        mulerouter_base_url=base_url,
        vtrix_base_url=base_url,
        mulerouter_api_key=DEFAULT_MULEROUTER_KEY,
        vtrix_api_key=DEFAULT_VTRIX_KEY,
        http_timeout=5.0,
        database_path=folder / "wanbot.sqlite3",
        media_dir=folder / "media",
        _env_file=None,
    )
    deliverer = FileDeliverer(folder / "posts.jsonl")
    engine = await build_job_engine(
        settings,
        session,
        deliverer,
        prices=PriceTable(),
        create_retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        poll_retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        **fast_timing(speed, **config),
    )
    return EngineParts(engine, engine.store, deliverer, engine.providers)
