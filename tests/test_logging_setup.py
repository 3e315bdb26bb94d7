"""The log's redaction filter: no token or key gets through, whatever logged it and however."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

from bot.config import Settings
from bot.log_context import add_log_context, log_context
from bot.logging_setup import (
    REDACTED,
    RedactSecrets,
    build_handler,
    configure_logging,
    configured_secrets,
)

BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz012345"
API_KEY = "sk-mule-0123456789abcdef"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OmFiY2RlZg" + "x" * 60
OTHER_TOKEN = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk"  # no known prefix


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("discord.http", logging.DEBUG, __file__, 1, msg, args, exc_info)


def shown(rec: logging.LogRecord, secrets: tuple[str, ...] = (BOT_TOKEN, API_KEY)) -> str:
    """The line a handler with the filter writes for ``rec``."""
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactSecrets(secrets))
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(rec)
    stream = handler.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


# (format, arguments, the secret that must not show): every way a token or key reaches a line.
LEAKY_RECORDS = [
    # discord.http, every route it calls, with the request body
    (
        "%s %s with %s has returned %s",
        (
            "POST",
            f"http://127.0.0.1:5/api/v10/interactions/1234/{OTHER_TOKEN}/callback",
            "{}",
            204,
        ),
        OTHER_TOKEN,
    ),
    (
        "%s %s has received %s",
        (
            "PATCH",
            f"https://discord.com/api/v10/webhooks/99/{OTHER_TOKEN}/messages/@original",
            {},
        ),
        OTHER_TOKEN,
    ),
    (
        "%s %s has received %s",
        ("POST", f"https://discord.com/api/v10/webhooks/99/{OTHER_TOKEN}?wait=true", {}),
        OTHER_TOKEN,
    ),
    # discord.gateway, a whole event as a dict (its repr) or as JSON
    (
        "For Shard ID %s: WebSocket Event: %s",
        (None, {"t": "INTERACTION_CREATE", "d": {"id": "1", "token": OTHER_TOKEN}}),
        OTHER_TOKEN,
    ),
    ('{"op": 0, "d": {"token": "%s", "type": 2}}', (OTHER_TOKEN,), OTHER_TOKEN),
    # an interaction token on its own, recognised by its shape
    ("followup for %s failed", (INTERACTION_TOKEN,), INTERACTION_TOKEN),
    # headers
    ("headers: %s", ({"Authorization": f"Bot {OTHER_TOKEN}"},), OTHER_TOKEN),
    ("headers: %s", ({"Authorization": f"Bearer {OTHER_TOKEN}"},), OTHER_TOKEN),
    ("headers: %s", ({"X-Api-Key": OTHER_TOKEN},), OTHER_TOKEN),
    ("GET /v1/tasks?api_key=%s&x=1", (OTHER_TOKEN,), OTHER_TOKEN),
    # a bot token by its shape, and the configured secrets wherever they are
    ("token is %s", (BOT_TOKEN.replace("GaBcDe", "HxYzWv"),), "HxYzWv"),
    ("login with %s", (BOT_TOKEN,), BOT_TOKEN),
    ("calling with key=%r", (API_KEY,), API_KEY),
    (f"no args, key {API_KEY} in the message", (), API_KEY),
]


@pytest.mark.parametrize(("msg", "args", "secret"), LEAKY_RECORDS)
def test_tokens_and_keys_are_redacted(msg: str, args: tuple[object, ...], secret: str) -> None:
    line = shown(record(msg, *args))
    assert secret not in line
    assert REDACTED in line


def test_the_rest_of_the_line_is_kept() -> None:
    url = f"https://discord.com/api/v10/interactions/1234/{OTHER_TOKEN}/callback"
    line = shown(record("%s %s with %s has returned %s", "POST", url, None, 204))
    assert line == (
        f"POST https://discord.com/api/v10/interactions/1234/{REDACTED}/callback with None "
        "has returned 204\n"
    )
    ordinary = "job 3: accepted by mulerouter as task d23f0824-128b (token bucket full)"
    assert shown(record(ordinary)) == ordinary + "\n"
    assert shown(record("Discord refused DISCORD_TOKEN: check the token")) == (
        "Discord refused DISCORD_TOKEN: check the token\n"
    )


def test_exception_text_is_redacted() -> None:
    try:
        raise RuntimeError(f"POST /webhooks/1/{OTHER_TOKEN} failed with key {API_KEY}")
    except RuntimeError as exc:
        line = shown(record("request failed", exc=exc))
    assert "RuntimeError" in line
    assert OTHER_TOKEN not in line
    assert API_KEY not in line


def test_a_record_whose_arguments_do_not_fit_is_still_redacted() -> None:
    line = shown(record("%s and %s", API_KEY))
    assert API_KEY not in line


def test_short_or_empty_secrets_are_not_used_as_patterns() -> None:
    assert shown(record("a cat at sea"), secrets=("", "a", "cat")) == "a cat at sea\n"


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("discord.gateway", "aiosqlite")}
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, quiet_level in quiet.items():
        logging.getLogger(name).setLevel(quiet_level)
    logging.captureWarnings(False)


@pytest.mark.usefixtures("root_logging")
def test_configure_logging_redacts_every_logger_at_debug() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", secrets=[API_KEY], stream=stream)
    configure_logging("DEBUG", secrets=[API_KEY], stream=stream)  # once, however often called
    logging.getLogger("discord.webhook.async_").debug("key %s", API_KEY)
    logging.getLogger("discord.gateway").debug("WebSocket Event: %s", {"token": OTHER_TOKEN})
    logging.getLogger("discord.gateway").info("connected")
    logging.getLogger("aiosqlite").debug("executing %s", "INSERT INTO jobs ... 'a cat'")
    text = stream.getvalue()
    assert API_KEY not in text
    assert text.count(f"key {REDACTED}") == 1
    # DEBUG lines with whole payloads (every gateway event, every SQL statement's values,
    # members' text included) are left out.
    assert "WebSocket Event" not in text
    assert "INSERT INTO jobs" not in text
    assert "discord.gateway: connected" in text


@pytest.mark.usefixtures("root_logging")
def test_at_info_and_above_the_level_applies_to_every_logger() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", stream=stream)
    logging.getLogger("discord.gateway").info("connected")
    logging.getLogger("discord.gateway").warning("reconnecting")
    assert stream.getvalue().count("discord.gateway") == 1


def test_the_configured_secrets_are_every_secret_setting_that_is_set() -> None:
    secret_fields = [
        name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
    ]
    assert {"discord_token", "mulerouter_api_key", "vtrix_api_key"} <= set(secret_fields)
    values = {name: f"secret-value-of-{name}" for name in secret_fields}
    secrets: dict[str, Any] = {name: SecretStr(value) for name, value in values.items()}
    settings = Settings.model_construct(**secrets)
    assert sorted(configured_secrets(settings)) == sorted(values.values())
    nothing: dict[str, Any] = dict.fromkeys(secret_fields)
    unset = Settings.model_construct(**nothing)
    assert configured_secrets(unset) == []


# ---------------------------------------------------------------------------------------------
# WANBOT_LOG_FORMAT=json
# ---------------------------------------------------------------------------------------------

ALLOWED_KEYS = {
    "time",
    "level",
    "logger",
    "message",
    "job_id",
    "guild_id",
    "model",
    "exc_info",
    "stack_info",
}


def json_lines(
    *records: logging.LogRecord, secrets: tuple[str, ...] = (BOT_TOKEN, API_KEY)
) -> list[dict[str, Any]]:
    """What the JSON handler writes for ``records``, each line parsed (and checked to be one
    object a line, with only the fields the formatter names)."""
    stream = io.StringIO()
    handler = build_handler(secrets=secrets, stream=stream, log_format="json")
    assert isinstance(handler.formatter, JsonFormatter)  # python-json-logger does the writing
    for rec in records:
        handler.handle(rec)
    text = stream.getvalue()
    lines = text.splitlines()
    assert len(lines) == len(records)
    parsed = [json.loads(line) for line in lines]
    for obj in parsed:
        assert isinstance(obj, dict)
        assert set(obj) <= ALLOWED_KEYS
    return parsed


def test_a_json_line_has_time_level_logger_and_message() -> None:
    rec = record("job %d: accepted by %s", 3, "mulerouter")
    rec.created = 1_700_000_000.25
    (line,) = json_lines(rec)
    assert line == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "DEBUG",
        "logger": "discord.http",
        "message": "job 3: accepted by mulerouter",
    }
    moment = datetime.fromisoformat(line["time"])
    assert moment.utcoffset() == timedelta(0)
    assert moment.timestamp() == 1_700_000_000.25


@pytest.mark.parametrize(("msg", "args", "secret"), LEAKY_RECORDS)
def test_json_lines_are_redacted_in_message_and_arguments(
    msg: str, args: tuple[object, ...], secret: str
) -> None:
    rec = record(msg, *args)
    (line,) = json_lines(rec)
    assert secret not in json.dumps(line)
    assert REDACTED in line["message"]


def test_json_exception_text_is_redacted_though_the_exception_still_holds_the_secret() -> None:
    try:
        raise RuntimeError(f"POST /webhooks/1/{OTHER_TOKEN} failed with key {API_KEY}")
    except RuntimeError as exc:
        rec = record("request failed", exc=exc)
    stream_text = json.dumps(json_lines(rec))
    (line,) = json.loads(stream_text)
    assert line["message"] == "request failed"
    assert "Traceback (most recent call last)" in line["exc_info"]
    assert (
        "RuntimeError: POST /webhooks/1/[redacted] failed with key [redacted]" in (line["exc_info"])
    )
    assert OTHER_TOKEN not in stream_text
    assert API_KEY not in stream_text


def test_json_stack_text_is_redacted() -> None:
    rec = record("where")
    rec.stack_info = f'Stack (most recent call last):\n  File "x.py", line 1, in f\n    {API_KEY}'
    (line,) = json_lines(rec)
    assert API_KEY not in line["stack_info"]
    assert REDACTED in line["stack_info"]


@pytest.mark.usefixtures("root_logging")
def test_no_extra_or_record_attribute_reaches_a_json_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", secrets=[API_KEY], stream=stream, log_format="json")
    log = logging.getLogger("wanbot.test")
    log.info(
        "calling",
        extra={"token": OTHER_TOKEN, "api_key": API_KEY, "job_id": OTHER_TOKEN, "model": API_KEY},
    )
    log.info({"token": OTHER_TOKEN, "level": "fake", "note": "a dict as the message"})
    log.info("a %(name)s mapping", {"name": "cat", "secret": OTHER_TOKEN})
    text = stream.getvalue()
    assert OTHER_TOKEN not in text
    assert API_KEY not in text
    first, second, third = (json.loads(line) for line in text.splitlines())
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["message"] == "calling"
    assert second["level"] == "INFO"
    assert set(second) == {"time", "level", "logger", "message"}
    assert "a dict as the message" in second["message"]
    assert third["message"] == "a cat mapping"


def test_json_lines_carry_the_job_guild_and_model_where_known() -> None:
    # The context is read when the record reaches the handler, in the task that logged it.
    with log_context(job_id=12, model="wan2.6-i2v"):
        (polling,) = json_lines(record("job 12: polled"))
        add_log_context(guild_id=555)
        (delivering,) = json_lines(record("job 12: posted"))
    (outside,) = json_lines(record("started"))
    assert polling == {**polling, "job_id": 12, "model": "wan2.6-i2v"}
    assert "guild_id" not in polling
    assert delivering == {**delivering, "job_id": 12, "guild_id": 555, "model": "wan2.6-i2v"}
    assert list(delivering)[4:] == ["job_id", "guild_id", "model"]
    assert set(outside) == {"time", "level", "logger", "message"}


def test_a_json_line_is_one_line_whatever_the_message_holds() -> None:
    rec = record("prompt: %s", 'a cat\n{"level": "CRITICAL"}\r\n— 猫が波に乗る "quoted"')
    (line,) = json_lines(rec)
    assert line["message"] == 'prompt: a cat\n{"level": "CRITICAL"}\r\n— 猫が波に乗る "quoted"'
    assert line["level"] == "DEBUG"


def test_a_record_that_fails_redaction_is_still_a_json_line() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError(API_KEY)

        __str__ = __repr__

    (line,) = json_lines(record("%s and %s", Unprintable()))
    assert line["message"] == "[log record withheld: redaction failed]"


@pytest.mark.usefixtures("root_logging")
def test_json_logging_writes_python_warnings_as_json_lines_too() -> None:
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging("INFO", secrets=[API_KEY], stream=stream, log_format="json")
        warnings.warn(f"deprecated, key {API_KEY}", DeprecationWarning, stacklevel=1)
        logging.captureWarnings(False)
    (line,) = (json.loads(text) for text in stream.getvalue().splitlines())
    assert line["logger"] == "py.warnings"
    assert line["level"] == "WARNING"
    assert "DeprecationWarning: deprecated, key [redacted]" in line["message"]


@pytest.mark.usefixtures("root_logging")
def test_text_stays_the_default_and_unchanged_inside_a_job() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    with log_context(job_id=4, guild_id=40, model="wan2.6-i2v"):
        logging.getLogger("bot.jobs.engine").info("job %d: polled", 4)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    bot\.jobs\.engine: job 4: polled\n",
        stream.getvalue(),
    )


UNCAUGHT = """
import threading
from bot.logging_setup import configure_logging
configure_logging("INFO", secrets=["s3cret-value-123456"])
def fail():
    raise ValueError("in a thread: s3cret-value-123456")
worker = threading.Thread(target=fail, name="worker")
worker.start()
worker.join()
raise RuntimeError("the key is s3cret-value-123456")
"""


def test_an_uncaught_exception_goes_through_the_filter_too() -> None:
    """Python prints an exception nothing caught itself, past any logging filter; the
    configured hooks log it instead (main thread and other threads)."""
    done = subprocess.run(
        [sys.executable, "-c", UNCAUGHT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        check=False,
    )
    assert done.returncode == 1
    assert "s3cret-value-123456" not in done.stderr + done.stdout
    assert "CRITICAL bot: uncaught exception in thread worker" in done.stderr
    assert "ValueError: in a thread: [redacted]" in done.stderr
    assert "CRITICAL bot: uncaught exception\n" in done.stderr
    assert "RuntimeError: the key is [redacted]" in done.stderr
