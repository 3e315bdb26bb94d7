"""Settings: defaults, environment names, ``.env``, one-line errors, and secrets that never leak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import ConfigError, LogFormat, ProviderName, Settings, load_settings

SECRET = "sk-live-SECRET123"

# The documented environment names, one per setting.
ENV_NAMES = {
    "discord_token": "DISCORD_TOKEN",
    "mulerouter_api_key": "MULEROUTER_API_KEY",
    "mulerouter_base_url": "MULEROUTER_BASE_URL",
    "vtrix_api_key": "VTRIX_API_KEY",
    "vtrix_base_url": "VTRIX_BASE_URL",
    "i2v_flash_provider": "WAN_I2V_FLASH_PROVIDER",
    "database_path": "WANBOT_DATABASE",
    "database_url": "WANBOT_DATABASE_URL",
    "lease_seconds": "WANBOT_LEASE_SECONDS",
    "shard_count": "WANBOT_SHARD_COUNT",
    "shard_ids": "WANBOT_SHARD_IDS",
    "media_dir": "WANBOT_MEDIA_DIR",
    "price_table": "WANBOT_PRICE_TABLE",
    "poll_interval_min": "WANBOT_POLL_MIN_SECONDS",
    "poll_interval_max": "WANBOT_POLL_MAX_SECONDS",
    "poll_target_delay": "WANBOT_POLL_TARGET_DELAY_SECONDS",
    "http_timeout": "WANBOT_HTTP_TIMEOUT",
    "requests_per_second": "WANBOT_REQUESTS_PER_SECOND",
    "max_concurrent_requests": "WANBOT_MAX_CONCURRENT_REQUESTS",
    "max_jobs_per_member": "WANBOT_MAX_JOBS_PER_MEMBER",
    "queue_per_member": "WANBOT_QUEUE_PER_MEMBER",
    "max_result_bytes": "WANBOT_MAX_RESULT_BYTES",
    "video_deadline": "WANBOT_VIDEO_DEADLINE_SECONDS",
    "image_deadline": "WANBOT_IMAGE_DEADLINE_SECONDS",
    "status_refresh_seconds": "WANBOT_STATUS_REFRESH_SECONDS",
    "channel_writes_per_5s": "WANBOT_CHANNEL_WRITES_PER_5S",
    "command_guild_id": "WANBOT_COMMAND_GUILD_ID",
    "log_level": "WANBOT_LOG_LEVEL",
    "log_format": "WANBOT_LOG_FORMAT",
    "http_host": "WANBOT_HTTP_HOST",
    "http_port": "WANBOT_HTTP_PORT",
    "mulerouter_webhook_secret": "MULEROUTER_WEBHOOK_SECRET",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer environment or stray ``.env`` reaches these tests."""
    names = set(ENV_NAMES.values())
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        names.update(str(c) for c in getattr(alias, "choices", ()))
    names.update(field.upper() for field in Settings.model_fields)
    for name in names:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------
# Defaults and names
# ---------------------------------------------------------------------------------------------


def test_every_setting_has_its_documented_environment_name() -> None:
    actual = {
        name: [str(c) for c in info.validation_alias.choices]  # type: ignore[union-attr]
        for name, info in Settings.model_fields.items()
    }
    assert actual == {name: [env] for name, env in ENV_NAMES.items()}


def test_every_setting_is_documented_in_the_readme_and_env_example() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    example = (root / ".env.example").read_text()
    for env in ENV_NAMES.values():
        assert f"| `{env}` |" in readme, f"{env} missing from the README configuration table"
        assert f"{env}=" in example, f"{env} missing from .env.example"


def test_defaults() -> None:
    s = load_settings()
    assert s.discord_token is None
    assert s.mulerouter_api_key is None
    assert s.vtrix_api_key is None
    assert s.base_url(ProviderName.MULEROUTER) == "https://api.mulerouter.ai"
    assert s.base_url(ProviderName.VTRIX) == "https://cloud.vtrix.ai"
    assert s.i2v_flash_provider is ProviderName.MULEROUTER
    assert s.database_path == Path("data/wanbot.sqlite3")
    assert s.media_dir is None
    assert s.resolved_media_dir == Path("data/media")
    assert s.price_table is None
    assert s.poll_interval_min == 4.0
    assert s.poll_interval_max == 120.0
    assert s.http_timeout == 30.0
    assert s.max_result_bytes == 500 * 1024 * 1024
    assert s.video_deadline == 1800.0
    assert s.image_deadline == 600.0
    assert s.log_level == "INFO"
    assert s.log_format is LogFormat.TEXT


@pytest.mark.parametrize(
    ("env", "value", "attribute", "expected"),
    [
        (
            "MULEROUTER_BASE_URL",
            "http://localhost:8080",
            "mulerouter_base_url",
            "http://localhost:8080/",
        ),
        (
            "VTRIX_BASE_URL",
            "https://vtrix.example/api/",
            "vtrix_base_url",
            "https://vtrix.example/api/",
        ),
        ("WAN_I2V_FLASH_PROVIDER", "vtrix", "i2v_flash_provider", ProviderName.VTRIX),
        ("WAN_I2V_FLASH_PROVIDER", "mulerouter", "i2v_flash_provider", ProviderName.MULEROUTER),
        (
            "WANBOT_DATABASE",
            "/var/lib/wanbot/db.sqlite3",
            "database_path",
            Path("/var/lib/wanbot/db.sqlite3"),
        ),
        ("WANBOT_MEDIA_DIR", "/srv/media", "media_dir", Path("/srv/media")),
        ("WANBOT_PRICE_TABLE", "prices.toml", "price_table", Path("prices.toml")),
        ("WANBOT_POLL_MIN_SECONDS", "2.5", "poll_interval_min", 2.5),
        ("WANBOT_POLL_MAX_SECONDS", "90", "poll_interval_max", 90.0),
        ("WANBOT_POLL_TARGET_DELAY_SECONDS", "8", "poll_target_delay", 8.0),
        ("WANBOT_HTTP_TIMEOUT", "12", "http_timeout", 12.0),
        ("WANBOT_MAX_RESULT_BYTES", "1048576", "max_result_bytes", 1048576),
        ("WANBOT_VIDEO_DEADLINE_SECONDS", "900", "video_deadline", 900.0),
        ("WANBOT_IMAGE_DEADLINE_SECONDS", "120", "image_deadline", 120.0),
        ("WANBOT_LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("WANBOT_LOG_LEVEL", "Warning", "log_level", "WARNING"),
        ("WANBOT_LOG_FORMAT", "json", "log_format", LogFormat.JSON),
        ("WANBOT_LOG_FORMAT", " Text", "log_format", LogFormat.TEXT),
        ("WANBOT_HTTP_HOST", "0.0.0.0", "http_host", "0.0.0.0"),
        ("WANBOT_HTTP_PORT", "9090", "http_port", 9090),
        ("WANBOT_HTTP_PORT", "0", "http_port", 0),
        ("WANBOT_HTTP_PORT", "off", "http_port", None),
        ("WANBOT_HTTP_PORT", "OFF", "http_port", None),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isupper() else None,
)
def test_environment_variables_are_read(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv(env, value)
    actual = getattr(load_settings(), attribute)
    assert (str(actual) if attribute.endswith("base_url") else actual) == expected


@pytest.mark.parametrize(
    ("env", "attribute"),
    [
        ("DISCORD_TOKEN", "discord_token"),
        ("MULEROUTER_API_KEY", "mulerouter_api_key"),
        ("VTRIX_API_KEY", "vtrix_api_key"),
        ("MULEROUTER_WEBHOOK_SECRET", "mulerouter_webhook_secret"),
    ],
)
def test_secrets_are_read_as_secret_strings(
    monkeypatch: pytest.MonkeyPatch, env: str, attribute: str
) -> None:
    monkeypatch.setenv(env, SECRET)
    value = getattr(load_settings(), attribute)
    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == SECRET


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("wanbot_database", "lower/case.sqlite3")
    assert load_settings().database_path == Path("lower/case.sqlite3")


# Generic variables other software commonly sets, named like our Python fields.
FIELD_NAMED_VARIABLES = [
    ("DATABASE_PATH", "other.sqlite3"),
    ("I2V_FLASH_PROVIDER", "vtrix"),
    ("MEDIA_DIR", "/tmp/elsewhere"),
    ("PRICE_TABLE", "other.toml"),
    ("POLL_INTERVAL_MIN", "1"),
    ("POLL_INTERVAL_MAX", "2"),
    ("HTTP_TIMEOUT", "3"),
    ("MAX_RESULT_BYTES", "4"),
    ("VIDEO_DEADLINE", "5"),
    ("IMAGE_DEADLINE", "6"),
    ("LOG_LEVEL", "trace"),
]


@pytest.mark.parametrize(
    ("env", "value"), FIELD_NAMED_VARIABLES, ids=[e for e, _ in FIELD_NAMED_VARIABLES]
)
def test_only_documented_names_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    baseline = load_settings().model_dump()
    monkeypatch.setenv(env, value)
    assert load_settings().model_dump() == baseline


def test_only_documented_names_are_read_from_dotenv(clean_env: Path) -> None:
    (clean_env / ".env").write_text("DATABASE_PATH=other.sqlite3\n", encoding="utf-8")
    assert load_settings().database_path == Path("data/wanbot.sqlite3")


def test_keyword_overrides_by_field_name() -> None:
    s = load_settings(i2v_flash_provider="vtrix", database_path="x.sqlite3")
    assert s.i2v_flash_provider is ProviderName.VTRIX
    assert s.database_path == Path("x.sqlite3")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.mulerouter.ai/", "https://api.mulerouter.ai"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://proxy.example/mule/", "https://proxy.example/mule"),
    ],
)
def test_base_url_has_no_trailing_slash(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("MULEROUTER_BASE_URL", url)
    monkeypatch.setenv("VTRIX_BASE_URL", url)
    s = load_settings()
    assert s.base_url(ProviderName.MULEROUTER) == expected
    assert s.base_url(ProviderName.VTRIX) == expected


def test_media_dir_defaults_beside_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_DATABASE", "/srv/bot/ledger.sqlite3")
    assert load_settings().resolved_media_dir == Path("/srv/bot/media")
    monkeypatch.setenv("WANBOT_MEDIA_DIR", "/mnt/big")
    assert load_settings().resolved_media_dir == Path("/mnt/big")


# ---------------------------------------------------------------------------------------------
# .env
# ---------------------------------------------------------------------------------------------


def test_dotenv_file_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        f"MULEROUTER_API_KEY={SECRET}\n"
        "WAN_I2V_FLASH_PROVIDER=vtrix\n"
        "WANBOT_DATABASE=from-dotenv.sqlite3\n"
        "WANBOT_POLL_MIN_SECONDS=7\n"
        "SOMETHING_ELSE=ignored\n",
        encoding="utf-8",
    )
    s = load_settings()
    assert s.api_key(ProviderName.MULEROUTER).get_secret_value() == SECRET
    assert s.i2v_flash_provider is ProviderName.VTRIX
    assert s.database_path == Path("from-dotenv.sqlite3")
    assert s.poll_interval_min == 7.0


def test_environment_wins_over_dotenv(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("WANBOT_DATABASE=from-dotenv.sqlite3\n", encoding="utf-8")
    monkeypatch.setenv("WANBOT_DATABASE", "from-env.sqlite3")
    assert load_settings().database_path == Path("from-env.sqlite3")


def test_dotenv_can_be_disabled(clean_env: Path) -> None:
    (clean_env / ".env").write_text("WANBOT_DATABASE=from-dotenv.sqlite3\n", encoding="utf-8")
    assert Settings(_env_file=None).database_path == Path("data/wanbot.sqlite3")  # type: ignore[call-arg]


def test_malformed_dotenv_value_is_a_config_error(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        f"VTRIX_API_KEY={SECRET}\nWANBOT_HTTP_TIMEOUT=soon\n", encoding="utf-8"
    )
    message = config_error()
    assert "WANBOT_HTTP_TIMEOUT" in message
    assert "SECRET123" not in message


# ---------------------------------------------------------------------------------------------
# Malformed settings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "value", "reason"),
    [
        ("WAN_I2V_FLASH_PROVIDER", "openai", "'mulerouter' or 'vtrix'"),
        ("WAN_I2V_FLASH_PROVIDER", "VTRIX ", "'mulerouter' or 'vtrix'"),
        ("MULEROUTER_BASE_URL", "not-a-url", "URL"),
        ("MULEROUTER_BASE_URL", "ftp://api.mulerouter.ai", "http"),
        ("VTRIX_BASE_URL", "cloud.vtrix.ai", "URL"),
        ("WANBOT_HTTP_TIMEOUT", "-1", "greater than 0"),
        ("WANBOT_HTTP_TIMEOUT", "0", "greater than 0"),
        ("WANBOT_HTTP_TIMEOUT", "thirty", "number"),
        ("WANBOT_POLL_MIN_SECONDS", "0", "greater than 0"),
        ("WANBOT_POLL_MAX_SECONDS", "-5", "greater than 0"),
        ("WANBOT_VIDEO_DEADLINE_SECONDS", "0", "greater than 0"),
        ("WANBOT_IMAGE_DEADLINE_SECONDS", "-1", "greater than 0"),
        ("WANBOT_MAX_RESULT_BYTES", "0", "greater than 0"),
        ("WANBOT_MAX_RESULT_BYTES", "1.5", "integer"),
        ("WANBOT_LOG_LEVEL", "loud", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("WANBOT_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("WANBOT_HTTP_PORT", "http", "a port number (0-65535) or off"),
        ("WANBOT_HTTP_PORT", "-1", "a port number (0-65535) or off"),
        ("WANBOT_HTTP_PORT", "65536", "less than or equal to 65535"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isupper() and "_" in v else None,
)
def test_malformed_setting_raises_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(env, value)
    message = config_error()
    assert message.startswith(f"setting {env} is invalid: ")
    assert reason in message
    assert "(and" not in message  # exactly one problem here


def test_several_malformed_settings_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_HTTP_TIMEOUT", "-1")
    monkeypatch.setenv("WAN_I2V_FLASH_PROVIDER", "openai")
    monkeypatch.setenv("WANBOT_LOG_LEVEL", "loud")
    message = config_error()
    assert message.startswith("setting ")
    assert "(and 2 more)" in message


def test_config_error_is_not_chained_to_the_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WANBOT_HTTP_TIMEOUT", "-1")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("env", "attribute"), [("WANBOT_MEDIA_DIR", "media_dir"), ("WANBOT_PRICE_TABLE", "price_table")]
)
def test_empty_optional_path_means_not_set(
    monkeypatch: pytest.MonkeyPatch, env: str, attribute: str
) -> None:
    monkeypatch.setenv(env, "")
    assert getattr(load_settings(), attribute) is None


def test_poll_min_above_max_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_POLL_MIN_SECONDS", "100")
    monkeypatch.setenv("WANBOT_POLL_MAX_SECONDS", "10")
    message = config_error()
    assert "WANBOT_POLL_MIN_SECONDS" in message


def test_poll_min_equal_to_max_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_POLL_MIN_SECONDS", "10")
    monkeypatch.setenv("WANBOT_POLL_MAX_SECONDS", "10")
    s = load_settings()
    assert s.poll_interval_min == s.poll_interval_max == 10.0


# ---------------------------------------------------------------------------------------------
# Secrets never leak
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def secret_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MULEROUTER_API_KEY", SECRET)
    monkeypatch.setenv("VTRIX_API_KEY", SECRET + "-vtrix")
    monkeypatch.setenv("DISCORD_TOKEN", SECRET + "-discord")
    monkeypatch.setenv("MULEROUTER_WEBHOOK_SECRET", "whsec_" + SECRET)
    return load_settings()


def test_secrets_are_hidden_in_every_rendering(secret_settings: Settings) -> None:
    renderings = [
        repr(secret_settings),
        str(secret_settings),
        secret_settings.model_dump_json(),
        str(secret_settings.model_dump()),
        str(secret_settings.model_dump(mode="json")),
        repr(secret_settings.mulerouter_api_key),
        str(secret_settings.mulerouter_api_key),
        f"{secret_settings.vtrix_api_key}",
        f"{secret_settings!r}",
    ]
    for text in renderings:
        assert "SECRET123" not in text
    # ...while the value itself is intact for the code that needs it.
    assert secret_settings.api_key(ProviderName.MULEROUTER).get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("WANBOT_HTTP_TIMEOUT", "-1"),
        ("WAN_I2V_FLASH_PROVIDER", "openai"),
        ("MULEROUTER_BASE_URL", "not-a-url"),
        ("WANBOT_LOG_LEVEL", "loud"),
    ],
)
def test_config_error_for_another_field_does_not_leak_secrets(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv("MULEROUTER_API_KEY", SECRET)
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    err = info.value
    for text in (str(err), repr(err), str(err.__context__), repr(err.__context__)):
        assert "SECRET123" not in text


@pytest.mark.parametrize(
    ("field", "env"),
    [
        ("discord_token", "DISCORD_TOKEN"),
        ("mulerouter_api_key", "MULEROUTER_API_KEY"),
        ("vtrix_api_key", "VTRIX_API_KEY"),
    ],
)
@pytest.mark.parametrize(
    "bad", [[SECRET], {"key": SECRET}, (SECRET, SECRET)], ids=["list", "dict", "tuple"]
)
def test_malformed_secret_is_not_echoed(field: str, env: str, bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**{field: bad})
    err = info.value
    assert env in str(err)
    for text in (str(err), repr(err), str(err.__context__), repr(err.__context__)):
        assert "SECRET123" not in text


def test_malformed_value_of_a_non_secret_is_not_echoed_either(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Someone pastes a key into the wrong variable: the message still only names the variable.
    monkeypatch.setenv("MULEROUTER_BASE_URL", SECRET)
    monkeypatch.setenv("WAN_I2V_FLASH_PROVIDER", SECRET)
    message = config_error()
    assert "SECRET123" not in message


# ---------------------------------------------------------------------------------------------
# Required secrets, checked when needed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "env"),
    [(ProviderName.MULEROUTER, "MULEROUTER_API_KEY"), (ProviderName.VTRIX, "VTRIX_API_KEY")],
)
@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_api_key_missing_or_blank_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, provider: ProviderName, env: str, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv(env, value)
    settings = load_settings()
    with pytest.raises(ConfigError) as info:
        settings.api_key(provider)
    assert str(info.value).startswith(f"{env} is not set")
    assert "\n" not in str(info.value)


def test_api_key_is_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULEROUTER_API_KEY", "mule-key")
    settings = load_settings()
    assert settings.api_key(ProviderName.MULEROUTER).get_secret_value() == "mule-key"
    with pytest.raises(ConfigError, match="VTRIX_API_KEY"):
        settings.api_key(ProviderName.VTRIX)
    monkeypatch.setenv("VTRIX_API_KEY", "vtrix-key")
    assert load_settings().api_key(ProviderName.VTRIX).get_secret_value() == "vtrix-key"


@pytest.mark.parametrize("value", [None, "", " \t"], ids=["unset", "empty", "blank"])
def test_require_discord_token_missing_or_blank(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("DISCORD_TOKEN", value)
    with pytest.raises(ConfigError) as info:
        load_settings().require_discord_token()
    assert str(info.value).startswith("DISCORD_TOKEN is not set")


def test_require_discord_token_returns_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    token = load_settings().require_discord_token()
    assert isinstance(token, SecretStr)
    assert token.get_secret_value() == SECRET


def test_settings_without_secrets_still_load() -> None:
    # Secrets are optional at load time so that `--help`-style commands work without them.
    s = load_settings()
    assert s.mulerouter_api_key is None
    assert s.discord_token is None


# ---------------------------------------------------------------------------------------------
# The HTTP server and webhooks
# ---------------------------------------------------------------------------------------------


def test_http_server_defaults_and_webhooks_off_without_a_secret() -> None:
    s = load_settings()
    assert (s.http_host, s.http_port, s.mulerouter_webhook_secret) == ("127.0.0.1", 8080, None)
    assert s.webhook_providers == frozenset()


def test_webhooks_need_the_secret_and_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULEROUTER_WEBHOOK_SECRET", "whsec_c2VjcmV0")
    assert load_settings().webhook_providers == {ProviderName.MULEROUTER}
    monkeypatch.setenv("WANBOT_HTTP_PORT", "off")
    assert load_settings().webhook_providers == frozenset()


# ---------------------------------------------------------------------------------------------
# Several processes: the PostgreSQL URL, leases and shards
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0-3", (0, 1, 2, 3)), ("4,5", (4, 5)), ("0-1, 6", (0, 1, 6)), ("7", (7,))],
)
def test_shard_ids_are_read_as_ranges_and_lists(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: tuple[int, ...]
) -> None:
    monkeypatch.setenv("WANBOT_SHARD_COUNT", "8")
    monkeypatch.setenv("WANBOT_SHARD_IDS", text)
    assert load_settings().shard_ids == expected


@pytest.mark.parametrize(
    ("overrides", "wanted"),
    [
        ({"shard_ids": "0"}, "needs WANBOT_SHARD_COUNT"),
        ({"shard_count": 2, "shard_ids": "1-2"}, "shard 2 is out of range"),
        ({"shard_count": 4, "shard_ids": "3-1"}, "a range must go up"),
        ({"shard_count": 4, "shard_ids": "0,0"}, "names a shard twice"),
        ({"shard_count": 4, "shard_ids": "one"}, "like 0-3 or 4,5"),
        ({"shard_count": 0}, "WANBOT_SHARD_COUNT"),
        ({"lease_seconds": 1}, "WANBOT_LEASE_SECONDS"),
    ],
)
def test_bad_shard_and_lease_settings_are_named(overrides: dict[str, Any], wanted: str) -> None:
    assert wanted in config_error(**overrides)


def test_the_database_url_is_a_secret_and_must_be_postgresql() -> None:
    url = f"postgresql://wanbot:{SECRET}@db.internal:5432/wanbot"
    settings = load_settings(database_url=url)
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    message = config_error(database_url=f"mysql://root:{SECRET}@db/wanbot")
    assert "WANBOT_DATABASE_URL" in message
    assert "postgresql://" in message
    assert SECRET not in message
    assert load_settings().database_url is None
