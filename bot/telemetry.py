"""What the core reports as it works, for the operator's metrics: a small interface, no backend.

Why this module exists: the engine, the outbox and the provider HTTP client see the events an
operator wants counted (a submission, a refusal and its reason, a provider request and how it
ended, how long a finished task went unseen, how long a seen result took to be posted), but the
core must not know how they are exported. It calls :class:`Telemetry`; :mod:`bot.metrics`
implements it with Prometheus, and :data:`NO_TELEMETRY` (the default everywhere) drops
everything, so the terminal front end, the tests and the benchmarks pay nothing.

Labels are closed sets chosen by the code (model ids, provider names, refusal reasons,
outcomes, delivery kinds), never member text or ids.

What it must never do: import a metrics library, or let a report raise into the caller.
"""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    """The events the core reports. Every method is cheap, synchronous and never raises."""

    def job_submitted(self, model: str) -> None:
        """A member's request was accepted and stored (budget reserved)."""

    def job_refused(self, reason: str) -> None:
        """A request was refused before anything was sent (``ReservationRefused.reason``)."""

    def provider_request(self, provider: str, operation: str, outcome: str) -> None:
        """One HTTP request to a provider: ``operation`` ``create`` or ``poll``; ``outcome``
        ``ok``, ``rate_limited``, ``client_error``, ``server_error``, ``unreadable`` or
        ``network_error``."""

    def result_detected(self, model: str, delay_seconds: float) -> None:
        """A finished task was seen ``delay_seconds`` after it is estimated to have finished."""

    def delivery_posted(self, kind: str, seconds: float) -> None:
        """A ``result`` or ``notice`` was posted ``seconds`` after the job was seen finished."""


class NoTelemetry:
    """Reports nothing: the default when no metrics are exported."""

    def job_submitted(self, model: str) -> None:
        pass

    def job_refused(self, reason: str) -> None:
        pass

    def provider_request(self, provider: str, operation: str, outcome: str) -> None:
        pass

    def result_detected(self, model: str, delay_seconds: float) -> None:
        pass

    def delivery_posted(self, kind: str, seconds: float) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()
