"""The bot's Prometheus metrics and ``GET /metrics`` on the bot's HTTP server.

Why this module exists: an operator running the bot for a server wants to see, without reading
logs, how many jobs are in which state, what is refused and why, how the providers answer,
how quickly finished tasks are seen and posted, whether Discord is rate-limiting the bot, and
what it has spent. :class:`Metrics` is the one place that knows Prometheus: it implements the
core's :class:`~bot.telemetry.Telemetry` (counters and histograms incremented where things
happen), counts Discord's 429s by route (:mod:`bot.discord_ui.rate_limits` calls
:meth:`Metrics.discord_rate_limited`), and computes the gauges that describe the database (jobs
by state and model, outbox backlog, spend) at scrape time through the store
(:meth:`~bot.jobs.storage.JobStore.gauges`, :meth:`~bot.jobs.storage.JobStore.usage`).

Each :class:`Metrics` has its own registry (never the process-wide default one), so several can
live in one test process. Names follow Prometheus conventions: ``wanbot_`` prefix, counters
end in ``_total``, durations in ``_seconds``, money in ``_usd``.

What it must never do: put member text or ids in a label (labels are model ids, provider
names, refusal reasons, outcomes, kinds and discord.py's templated routes), let a report raise
into the caller, or fail a scrape because the database did not answer (the database's gauges
are left out and the failure logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bot.jobs.records import StoreGauges, UsageRow
from bot.jobs.storage import JobStore

log = logging.getLogger(__name__)

PATH = "/metrics"

# A finished task is seen within a few seconds when the plan works (target 5 s by default).
DETECTION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# Seen finished to posted: a download and an upload, or minutes when Discord is refusing.
DELIVERY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class _DatabaseGauges(Collector):
    """The gauges read from the database, from the snapshot the last scrape took."""

    def __init__(self) -> None:
        self.gauges: StoreGauges | None = None
        self.spend: list[UsageRow] = []

    def collect(self) -> Iterator[Metric]:
        if self.gauges is None:
            return
        jobs = GaugeMetricFamily(
            "wanbot_jobs", "Jobs in the database, by state and model.", labels=["state", "model"]
        )
        for (state, model), count in sorted(self.gauges.jobs.items()):
            jobs.add_metric([state, model], count)
        yield jobs
        backlog = GaugeMetricFamily(
            "wanbot_outbox_backlog",
            "Posts (results, notices and approval requests) queued in the outbox and not yet "
            "delivered, by kind.",
            labels=["kind"],
        )
        for kind in ("result", "notice", "approval"):
            backlog.add_metric([kind], self.gauges.outbox_backlog.get(kind, 0))
        yield backlog
        spend = GaugeMetricFamily(
            "wanbot_spend_usd",
            "Money in the ledger by model (held and reserved amounts included): 'billed' for "
            "jobs settled at the provider's reported cost, 'estimated' for the rest.",
            labels=["model", "kind"],
        )
        for row in sorted(self.spend, key=lambda row: row.key):
            spend.add_metric([row.key, "estimated"], float(row.estimated))
            spend.add_metric([row.key, "billed"], float(row.billed))
        yield spend


class Metrics:
    """One process's metrics in a registry of its own; a :class:`~bot.telemetry.Telemetry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.submissions = Counter(
            "wanbot_submissions",
            "Generation requests accepted (budget reserved, job stored), by model.",
            ["model"],
            registry=registry,
        )
        self.refusals = Counter(
            "wanbot_refusals",
            "Generation requests refused by a budget or limit before anything was sent, by reason.",
            ["reason"],
            registry=registry,
        )
        self.provider_requests = Counter(
            "wanbot_provider_requests",
            "HTTP requests to the providers, by provider, operation (create, poll) and outcome.",
            ["provider", "operation", "outcome"],
            registry=registry,
        )
        self.detection_delay = Histogram(
            "wanbot_detection_delay_seconds",
            "From a task's estimated completion to the bot seeing it finished, by model.",
            ["model"],
            buckets=DETECTION_BUCKETS,
            registry=registry,
        )
        self.delivery_delay = Histogram(
            "wanbot_delivery_delay_seconds",
            "From a job seen finished to its result or notice posted, by kind.",
            ["kind"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.discord_rate_limits = Counter(
            "wanbot_discord_rate_limits",
            "429 answers from Discord, by discord.py's templated route.",
            ["route"],
            registry=registry,
        )
        self._database = _DatabaseGauges()
        registry.register(self._database)

    def __repr__(self) -> str:
        return "Metrics()"

    # --- Telemetry ----------------------------------------------------------------------------

    def job_submitted(self, model: str) -> None:
        self.submissions.labels(model=model).inc()

    def job_refused(self, reason: str) -> None:
        self.refusals.labels(reason=reason).inc()

    def provider_request(self, provider: str, operation: str, outcome: str) -> None:
        self.provider_requests.labels(provider=provider, operation=operation, outcome=outcome).inc()

    def result_detected(self, model: str, delay_seconds: float) -> None:
        self.detection_delay.labels(model=model).observe(max(delay_seconds, 0.0))

    def delivery_posted(self, kind: str, seconds: float) -> None:
        self.delivery_delay.labels(kind=kind).observe(max(seconds, 0.0))

    # --- Discord ------------------------------------------------------------------------------

    def discord_rate_limited(self, route: str) -> None:
        self.discord_rate_limits.labels(route=route).inc()

    # --- exposition ---------------------------------------------------------------------------

    async def refresh(self, store: JobStore) -> bool:
        """Read the database's gauges for the next exposition; ``False`` (and the gauges left
        out) when the database did not answer."""
        try:
            gauges = await store.gauges()
            spend = await store.usage(group_by="model", since=0.0)
        except Exception as exc:
            log.warning("metrics: reading the database failed (%s); its gauges are left out", exc)
            self._database.gauges, self._database.spend = None, []
            return False
        self._database.gauges, self._database.spend = gauges, spend
        return True

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def routes(self, store: JobStore) -> list[web.RouteDef]:
        """``GET /metrics``: the database's gauges read now, then every metric."""

        async def metrics(request: web.Request) -> web.Response:
            await self.refresh(store)
            return web.Response(
                body=self.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        return [web.get(PATH, metrics)]
