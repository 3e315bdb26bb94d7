"""Settings, read once from the environment and an optional ``.env`` file.

Why this module exists: every tunable and every secret enters the bot here, typed and checked,
so that a bad value stops start-up with one line naming it instead of failing minutes later in
the middle of a paid generation.

What it must never do: put a secret's value in a log line, an exception message or a ``repr``.
Secrets are :class:`pydantic.SecretStr` and :func:`load_settings` reports only *which* setting is
wrong, never what it contained.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, assert_never

from pydantic import (
    AliasChoices,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ProviderName(StrEnum):
    """The upstream APIs the bot can send generations to."""

    MULEROUTER = "mulerouter"
    VTRIX = "vtrix"


class LogFormat(StrEnum):
    """How log lines are written: ``text`` for people, ``json`` (one object a line) for tools."""

    TEXT = "text"
    JSON = "json"


class ConfigError(Exception):
    """A setting is missing or malformed. ``str()`` is one line, safe to print."""


def _env(name: str) -> AliasChoices:
    # One explicit environment name per field: the README's configuration table is the contract.
    return AliasChoices(name)


PositiveSeconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Everything the bot reads from its environment. Field docs feed the README table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
        hide_input_in_errors=True,
    )

    discord_token: SecretStr | None = Field(
        None, validation_alias=_env("DISCORD_TOKEN"), description="Bot token (needed by `run`)."
    )
    mulerouter_api_key: SecretStr | None = Field(
        None, validation_alias=_env("MULEROUTER_API_KEY"), description="MuleRouter API key."
    )
    mulerouter_base_url: HttpUrl = Field(
        HttpUrl("https://api.mulerouter.ai"), validation_alias=_env("MULEROUTER_BASE_URL")
    )
    vtrix_api_key: SecretStr | None = Field(
        None, validation_alias=_env("VTRIX_API_KEY"), description="Vtrix API key."
    )
    vtrix_base_url: HttpUrl = Field(
        HttpUrl("https://cloud.vtrix.ai"), validation_alias=_env("VTRIX_BASE_URL")
    )
    i2v_flash_provider: ProviderName = Field(
        ProviderName.MULEROUTER,
        validation_alias=_env("WAN_I2V_FLASH_PROVIDER"),
        description="Which provider serves wan2.2-i2v-flash: `mulerouter` or `vtrix`.",
    )
    database_path: Path = Field(
        Path("data/wanbot.sqlite3"), validation_alias=_env("WANBOT_DATABASE")
    )
    database_url: SecretStr | None = Field(
        None,
        validation_alias=_env("WANBOT_DATABASE_URL"),
        description="`postgresql://user:password@host:port/db`: a PostgreSQL store shared by "
        "several bot processes, instead of the SQLite file `WANBOT_DATABASE`.",
    )
    lease_seconds: float = Field(
        30.0,
        ge=5.0,
        le=600.0,
        validation_alias=_env("WANBOT_LEASE_SECONDS"),
        description="How long a process's claim on its jobs lasts without a heartbeat; after "
        "that, another process takes them over (PostgreSQL).",
    )
    shard_count: int | None = Field(
        None,
        ge=1,
        le=4096,
        validation_alias=_env("WANBOT_SHARD_COUNT"),
        description="Gateway shards of the whole deployment; unset: one process, every shard.",
    )
    # NoDecode: "4,5" and "7" are read by the validator below, not as JSON.
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = Field(
        None,
        validation_alias=_env("WANBOT_SHARD_IDS"),
        description="The shards this process runs, e.g. `0-3` or `4,5` (needs "
        "`WANBOT_SHARD_COUNT`); unset: all of them.",
    )
    media_dir: Path | None = Field(
        None,
        validation_alias=_env("WANBOT_MEDIA_DIR"),
        description="Where inputs and results are kept; default: `media/` beside the database.",
    )
    price_table: Path | None = Field(
        None,
        validation_alias=_env("WANBOT_PRICE_TABLE"),
        description="TOML file overriding the reference prices.",
    )
    poll_interval_min: PositiveSeconds = Field(
        4.0,
        validation_alias=_env("WANBOT_POLL_MIN_SECONDS"),
        description="Shortest interval between two looks at one task.",
    )
    poll_interval_max: PositiveSeconds = Field(
        120.0,
        validation_alias=_env("WANBOT_POLL_MAX_SECONDS"),
        description="Longest interval between two looks at one task, the first included.",
    )
    poll_target_delay: PositiveSeconds = Field(
        5.0,
        validation_alias=_env("WANBOT_POLL_TARGET_DELAY_SECONDS"),
        description=(
            "Target mean delay from a task finishing to the bot seeing it; the poll planner "
            "spends as few looks as it can to meet it."
        ),
    )
    http_timeout: PositiveSeconds = Field(30.0, validation_alias=_env("WANBOT_HTTP_TIMEOUT"))
    requests_per_second: float = Field(
        20.0,
        gt=0,
        validation_alias=_env("WANBOT_REQUESTS_PER_SECOND"),
        description="Most requests a second to one provider (all jobs together).",
    )
    max_concurrent_requests: int = Field(
        32,
        gt=0,
        validation_alias=_env("WANBOT_MAX_CONCURRENT_REQUESTS"),
        description="Most provider requests in flight at once.",
    )
    max_jobs_per_member: int = Field(
        3,
        ge=1,
        validation_alias=_env("WANBOT_MAX_JOBS_PER_MEMBER"),
        description="Generations one member may have running at once, unless a server sets "
        "its own limit (`/wanbot limits`).",
    )
    queue_per_member: int = Field(
        3,
        ge=0,
        validation_alias=_env("WANBOT_QUEUE_PER_MEMBER"),
        description="Generations a member at that limit may queue (reserved, started in turn), "
        "unless a server sets its own (`/wanbot limits queue:`); 0: refuse instead.",
    )
    max_result_bytes: int = Field(
        500 * 1024 * 1024, gt=0, validation_alias=_env("WANBOT_MAX_RESULT_BYTES")
    )
    video_deadline: PositiveSeconds = Field(
        30 * 60.0, validation_alias=_env("WANBOT_VIDEO_DEADLINE_SECONDS")
    )
    image_deadline: PositiveSeconds = Field(
        10 * 60.0, validation_alias=_env("WANBOT_IMAGE_DEADLINE_SECONDS")
    )
    status_refresh_seconds: float = Field(
        30.0,
        ge=1,
        validation_alias=_env("WANBOT_STATUS_REFRESH_SECONDS"),
        description="How often a running job's status message is refreshed (elapsed, ETA).",
    )
    channel_writes_per_5s: int = Field(
        5,
        ge=1,
        le=50,
        validation_alias=_env("WANBOT_CHANNEL_WRITES_PER_5S"),
        description="Posts and edits the bot makes in one channel per 5 seconds. Discord "
        "allows 5; raise it only against a test server without that limit.",
    )
    command_guild_id: int | None = Field(
        None,
        validation_alias=_env("WANBOT_COMMAND_GUILD_ID"),
        description="Register the slash commands in this one server only (instant; for "
        "testing). Default: globally, in every server.",
    )
    log_level: str = Field("INFO", validation_alias=_env("WANBOT_LOG_LEVEL"))
    log_format: LogFormat = Field(
        LogFormat.TEXT,
        validation_alias=_env("WANBOT_LOG_FORMAT"),
        description="`text` (the default) or `json`: one JSON object a line, with the job, "
        "server and model where there is one.",
    )
    http_host: str = Field(
        "127.0.0.1",
        min_length=1,
        validation_alias=_env("WANBOT_HTTP_HOST"),
        description="Address the bot's HTTP server (webhooks, health, metrics) listens on.",
    )
    http_port: int | None = Field(
        8080,
        ge=0,
        le=65535,
        validation_alias=_env("WANBOT_HTTP_PORT"),
        description="Port of the bot's HTTP server; `off` disables it (0: any free port).",
    )
    mulerouter_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("MULEROUTER_WEBHOOK_SECRET"),
        description="The `whsec_…` secret of the MuleRouter webhook; set, it turns on "
        "`POST /webhooks/mulerouter`.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("http_port", mode="before")
    @classmethod
    def _port_or_off(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "off":
                return None
            if not text.isdigit():
                raise ValueError("must be a port number (0-65535) or off")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if not text:
            return None
        if not text.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return SecretStr(text)

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        ids: list[int] = []
        for part in value.replace(" ", "").split(","):
            low, dash, high = part.partition("-")
            if not low.isdigit() or (dash and not high.isdigit()):
                raise ValueError("must be shard numbers like 0-3 or 4,5")
            first, last = int(low), int(high) if dash else int(low)
            if last < first:
                raise ValueError(f"{part}: a range must go up (e.g. {last}-{first})")
            ids.extend(range(first, last + 1))
        if len(set(ids)) != len(ids):
            raise ValueError("names a shard twice")
        return tuple(sorted(ids))

    @field_validator("shard_ids")
    @classmethod
    def _shards_within_count(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if value is None:
            return None
        count = info.data.get("shard_count")
        if count is None:
            raise ValueError("needs WANBOT_SHARD_COUNT (the shards of the whole deployment)")
        if not value:
            raise ValueError("names no shard")
        if max(value) >= count:
            raise ValueError(f"shard {max(value)} is out of range for WANBOT_SHARD_COUNT={count}")
        return value

    @field_validator("poll_interval_max")
    @classmethod
    def _max_not_below_min(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("poll_interval_min")
        if low is not None and value < low:
            raise ValueError(f"must be at least WANBOT_POLL_MIN_SECONDS ({low:g})")
        return value

    @property
    def webhook_providers(self) -> frozenset[ProviderName]:
        """Providers whose webhooks this bot receives: a secret set and the HTTP server on."""
        secret = self.mulerouter_webhook_secret
        if self.http_port is None or secret is None or not secret.get_secret_value().strip():
            return frozenset()
        return frozenset({ProviderName.MULEROUTER})

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir or self.database_path.parent / "media"

    def api_key(self, provider: ProviderName) -> SecretStr:
        """The key for ``provider``, or :class:`ConfigError` naming the variable to set."""
        match provider:
            case ProviderName.MULEROUTER:
                key = self.mulerouter_api_key
            case ProviderName.VTRIX:
                key = self.vtrix_api_key
            case _:
                assert_never(provider)
        if key is None or not key.get_secret_value().strip():
            name = _env_name_for((f"{provider.value}_api_key",))
            raise ConfigError(f"{name} is not set: put the {provider} key there.")
        return key

    def base_url(self, provider: ProviderName) -> str:
        match provider:
            case ProviderName.MULEROUTER:
                url = self.mulerouter_base_url
            case ProviderName.VTRIX:
                url = self.vtrix_base_url
            case _:
                assert_never(provider)
        return str(url).rstrip("/")

    def require_discord_token(self) -> SecretStr:
        if self.discord_token is None or not self.discord_token.get_secret_value().strip():
            raise ConfigError(
                "DISCORD_TOKEN is not set: put the bot token from the Discord "
                "developer portal there."
            )
        return self.discord_token


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into one safe line.

    ``overrides`` may use field names (``i2v_flash_provider=...``); they are passed under their
    environment names, the only names the settings accept. The message names the environment
    variable and what is wrong with it, never the value.
    """
    # Any: the values are unchecked input that Settings validates; typed as object they would
    # also be matched against BaseSettings' own ``_env_file``-style keyword arguments.
    named: dict[str, Any] = {
        _env_name_for((key,)) if key in Settings.model_fields else key: value
        for key, value in overrides.items()
    }
    try:
        return Settings(**named)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _env_name_for(first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"setting {name} is invalid: {reason}{extra}") from None


def _env_name_for(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return field.upper()
