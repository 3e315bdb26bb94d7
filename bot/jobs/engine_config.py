"""The job engine's tunables, taken from the operator's settings.

Why this module exists: every default an operator can change lives once, in
:class:`bot.config.Settings`; :meth:`EngineConfig.from_settings` is the only way an engine
config is made, so a default is never written twice. The remaining fields are the engine's own
constants (retry counts, leases), not settings; tests and benchmarks override them by name.

What it must never do: read the environment itself, or repeat a default that ``Settings``
holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.catalog import CATALOG, ModelSpec, ResultKind
from bot.config import ProviderName, Settings
from bot.jobs.budget import Limits


def _expected_seconds() -> dict[str, float]:
    return {spec.model_id: spec.expected_seconds for spec in CATALOG}


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs to know; build it with :meth:`from_settings`."""

    # From the operator's settings (no defaults here: see bot.config.Settings).
    media_dir: Path
    video_deadline: float
    image_deadline: float
    poll_min_interval: float
    poll_max_interval: float
    poll_target_delay: float
    requests_per_second: float
    max_concurrent_requests: int
    max_result_bytes: int
    default_limits: Limits
    # Providers whose webhooks reach this bot: polling is then only their safety net.
    webhook_providers: frozenset[ProviderName]
    # How long this process's claim on its jobs lasts without a heartbeat (bot.jobs.leases).
    lease_seconds: float = 30.0
    # The gateway shards this process runs, as the instances table shows them ("0-1 of 4").
    shards: str = ""
    # The engine's own constants.
    # The very first look at a task never comes sooner than this (the planner decides when).
    poll_first_look: float = 10.0
    max_submit_attempts: int = 5
    submit_retry_seconds: float = 30.0
    poll_not_found_limit: int = 5
    outbox_retry_seconds: float = 5.0
    outbox_retry_max_seconds: float = 600.0
    outbox_lease_seconds: float = 300.0
    outbox_concurrency: int = 8
    download_retry_seconds: float = 2.0
    # A result whose download keeps failing is retried this long before links are posted.
    download_patience_seconds: float = 120.0
    history_refresh_seconds: float = 10.0
    # How long a provider keeps a result fetchable (MuleRouter/Alibaba: 24 h, docs/providers.md):
    # an accepted task is followed, and a result's delivery retried, for this long.
    result_ttl_seconds: float = 86_400.0
    # Past its deadline an accepted task is still followed, this often at most.
    overdue_poll_seconds: float = 300.0
    # A billed cost above this many times the estimate is not trusted (settled at the estimate).
    max_billed_over_estimate: Decimal = Decimal(10)
    # Completions in a row found by polling, not pushed, before a provider's webhooks are no
    # longer relied on (polling as usual until one arrives again).
    webhook_miss_limit: int = 3
    # Longest in-memory wait between two tries of a failed store write (disk full, locked).
    store_retry_max_seconds: float = 60.0
    # Expected seconds per model before there is history (each model's catalog entry).
    expected_seconds: dict[str, float] = field(default_factory=_expected_seconds)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> EngineConfig:
        config = cls(
            media_dir=settings.resolved_media_dir,
            video_deadline=settings.video_deadline,
            image_deadline=settings.image_deadline,
            poll_min_interval=settings.poll_interval_min,
            poll_max_interval=settings.poll_interval_max,
            poll_target_delay=settings.poll_target_delay,
            requests_per_second=settings.requests_per_second,
            max_concurrent_requests=settings.max_concurrent_requests,
            max_result_bytes=settings.max_result_bytes,
            default_limits=Limits(
                max_concurrent_per_user=settings.max_jobs_per_member,
                queue_per_user=settings.queue_per_member,
            ),
            webhook_providers=settings.webhook_providers,
            lease_seconds=settings.lease_seconds,
            shards=_shards_label(settings),
        )
        return dataclasses.replace(config, **overrides)

    def deadline_for(self, spec: ModelSpec) -> float:
        if spec.result_kind is ResultKind.VIDEO:
            return self.video_deadline
        return self.image_deadline


def _shards_label(settings: Settings) -> str:
    if settings.shard_count is None:
        return ""
    ids = settings.shard_ids or tuple(range(settings.shard_count))
    return f"{','.join(str(i) for i in ids)} of {settings.shard_count}"
