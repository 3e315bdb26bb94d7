"""How the simulated providers behave: speed, durations, failure and fault rates, keys, balance.

Why this module exists: one validated, immutable object decides the simulator's behaviour, whether
it is built in Python (tests), from the command line, or patched at run time through
``POST /_sim/config``. A bad rate or a negative balance is refused here, not discovered mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.config import ProviderName
from bot.simulator.contracts import MODEL_IDS
from bot.simulator.faults import FaultKind, FaultTarget

DEFAULT_MULEROUTER_KEY = "sim-mulerouter-key"
DEFAULT_VTRIX_KEY = "sim-vtrix-key"
DEFAULT_KEYS: dict[ProviderName, frozenset[str]] = {
    ProviderName.MULEROUTER: frozenset({DEFAULT_MULEROUTER_KEY}),
    ProviderName.VTRIX: frozenset({DEFAULT_VTRIX_KEY}),
}

# Simulated seconds per job; for video models, per 5 s of video (wan2.6-i2v at 15 s takes 180 s).
DEFAULT_DURATIONS: dict[str, float] = {
    "wan2.2-t2v-plus": 90.0,
    "wan2.2-i2v-flash": 60.0,
    "wan2.6-i2v": 60.0,
    "wan2.5-i2i-preview": 45.0,
}

Rate = Annotated[float, Field(ge=0, le=1)]


class SimulatorConfig(BaseModel):
    """Everything tunable. ``speed`` is simulated seconds per real second.

    Changes made at run time apply to tasks created afterwards; a task's timeline is fixed when
    it is created, so polling stays O(1) and needs no timers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    speed: float = Field(1.0, gt=0)
    seed: int | None = None
    durations: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_DURATIONS)
    )
    duration_jitter: Rate = 0.2
    pending_share: Rate = 0.1
    failure_rate: Rate = 0.0
    unknown_status_words: bool = False

    rate_limit_rate: Rate = 0.0
    server_error_rate: Rate = 0.0
    unavailable_rate: Rate = 0.0
    slow_rate: Rate = 0.0
    malformed_rate: Rate = 0.0
    drop_rate: Rate = 0.0
    fault_targets: dict[FaultKind, frozenset[FaultTarget]] = Field(default_factory=dict)
    after_create_share: Rate = 0.5
    retry_after: int = Field(1, ge=0)
    slow_seconds: float = Field(3.0, ge=0)

    # Signed task events (webhooks) to this URL, MuleRouter tasks only; off when None.
    webhook_url: str | None = None
    webhook_secret: str | None = None  # whsec_...; needed with a URL
    webhook_drop_rate: Rate = 0.0  # share of events never sent
    webhook_duplicate_rate: Rate = 0.0  # share sent twice (same id)
    webhook_delay_rate: Rate = 0.0  # share sent webhook_delay_seconds late
    webhook_delay_seconds: float = Field(2.0, ge=0)
    webhook_out_of_order_rate: Rate = 0.0  # share of tasks whose task.created comes last
    webhook_bad_signature_rate: Rate = 0.0  # share signed with a wrong key (refused: lost)
    # Deliveries answered 5xx or not answered are tried again this often, backing off.
    webhook_retries: int = Field(3, ge=0)
    webhook_retry_seconds: float = Field(0.5, ge=0)

    balance: Decimal | None = Field(None, ge=0)
    keys: dict[ProviderName, frozenset[str]] = Field(default_factory=lambda: dict(DEFAULT_KEYS))
    max_recorded_requests: int = Field(10_000, ge=0)

    @field_validator("durations")
    @classmethod
    def _known_models(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(MODEL_IDS))
        if unknown:
            raise ValueError(f"unknown model ids {unknown}; known: {', '.join(MODEL_IDS)}")
        return value

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> SimulatorConfig:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("webhook_url needs webhook_secret (whsec_...) to sign with")
        return self

    def fault_rate(self, kind: FaultKind) -> float:
        rate: float = getattr(self, f"{kind.value}_rate")
        return rate

    def targets(self, kind: FaultKind) -> frozenset[FaultTarget]:
        """Where random faults of ``kind`` may strike; every target unless configured."""
        return self.fault_targets.get(kind, frozenset({FaultTarget.ALL}))

    def base_duration(self, model_id: str) -> float:
        return self.durations.get(model_id, DEFAULT_DURATIONS[model_id])

    def patched(self, changes: Mapping[str, Any]) -> SimulatorConfig:
        """A validated copy with ``changes`` applied; mapping-valued settings are merged."""
        data = self.model_dump()
        for name, value in changes.items():
            if isinstance(data.get(name), dict) and isinstance(value, Mapping):
                data[name] = {**data[name], **value}
            else:
                data[name] = value
        return SimulatorConfig.model_validate(data)

    def public_json(self) -> dict[str, Any]:
        """The settings as JSON, without the accepted keys or the webhook secret."""
        return self.model_dump(mode="json", exclude={"keys", "webhook_secret"})
