"""The engine's tunables come from the operator's settings, never from a second default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.catalog import CATALOG
from bot.config import ProviderName, load_settings
from bot.jobs.budget import Limits
from bot.jobs.engine_config import EngineConfig

FROM_SETTINGS = {
    "media_dir",
    "video_deadline",
    "image_deadline",
    "poll_min_interval",
    "poll_max_interval",
    "poll_target_delay",
    "requests_per_second",
    "max_concurrent_requests",
    "max_result_bytes",
    "default_limits",
    "webhook_providers",
}


def test_settings_derived_fields_have_no_default_of_their_own() -> None:
    without_default = {
        f.name
        for f in dataclasses.fields(EngineConfig)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert without_default == FROM_SETTINGS


def test_from_settings_reads_the_operators_values() -> None:
    settings = load_settings(
        _env_file=None,
        database_path=Path("/srv/wan/db.sqlite3"),
        video_deadline=99.0,
        image_deadline=33.0,
        poll_interval_min=2.0,
        poll_interval_max=50.0,
        requests_per_second=7.0,
        max_concurrent_requests=5,
        max_result_bytes=1234,
        max_jobs_per_member=9,
    )
    config = EngineConfig.from_settings(settings)
    assert config.media_dir == Path("/srv/wan/media")
    assert (config.video_deadline, config.image_deadline) == (99.0, 33.0)
    assert (config.poll_min_interval, config.poll_max_interval) == (2.0, 50.0)
    assert (config.requests_per_second, config.max_concurrent_requests) == (7.0, 5)
    assert config.max_result_bytes == 1234
    assert config.default_limits == Limits(max_concurrent_per_user=9, queue_per_user=3)
    assert config.expected_seconds == {spec.model_id: spec.expected_seconds for spec in CATALOG}


def test_overrides_replace_by_name() -> None:
    config = EngineConfig.from_settings(load_settings(_env_file=None), outbox_retry_max_seconds=2.0)
    assert config.outbox_retry_max_seconds == 2.0


def test_webhooks_reach_the_engine_only_with_a_secret_and_the_server_on() -> None:
    base = {"_env_file": None, "mulerouter_webhook_secret": "whsec_c2VjcmV0"}
    on = EngineConfig.from_settings(load_settings(**base))
    assert on.webhook_providers == {ProviderName.MULEROUTER}
    off = EngineConfig.from_settings(load_settings(**base, http_port="off"))
    assert off.webhook_providers == frozenset()
    assert EngineConfig.from_settings(load_settings(_env_file=None)).webhook_providers == set()
