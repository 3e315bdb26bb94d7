"""Logging for every command: one handler on stderr, and no secret through it at any level.

Why this module exists: the README promises that secrets never appear in logs, yet at DEBUG
discord.py logs every HTTP route it calls, and the routes that answer an interaction carry its
token in the URL (``/interactions/<id>/<token>/callback``, ``/webhooks/<app id>/<token>/…``);
its gateway logs whole events, ``"token"`` included. An interaction token lets anyone answer
as the bot for 15 minutes. The filter here sits on the one handler, so it sees every record of
every library, and redacts: interaction and webhook tokens in URLs, ``token``/``secret``/key
fields of payloads and headers (as JSON or as a Python ``repr``), ``Bot …``/``Bearer …``
credentials, anything shaped like a Discord bot or interaction token, and the configured
secrets' own values, in the message, its arguments, and exception and stack text.

Two libraries write whole payloads at DEBUG, members' prompts and names with them: discord.py's
gateway (every event) and aiosqlite (every statement with its values). Those loggers are held
at INFO (the gateway's connection lines stay). ``discord.http`` keeps its DEBUG lines (routes,
rate limits), redacted.

``WANBOT_LOG_FORMAT=json`` swaps the text formatter for :class:`JsonLines`: one JSON object a
line, from python-json-logger, with the job, server and model of the work the line is about
(:mod:`bot.log_context`). It writes only the fields it names, never a record's other
attributes or ``extra``, and takes the message and exception text the filter has already
redacted (the library on its own would format the exception afresh from ``exc_info``).

What it must never do: let a record through unredacted, raise from the filter (a failure
replaces the record's text instead), or redact ordinary words (secrets shorter than
:data:`MIN_SECRET_LENGTH` characters are not used as patterns).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

from bot.log_context import CONTEXT_FIELDS, AddLogContext

if TYPE_CHECKING:
    from bot.config import Settings

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
HANDLER_NAME = "wanbot"
# Loggers that write whole payloads at DEBUG: never below INFO.
QUIET_AT_DEBUG = ("discord.gateway", "aiosqlite")

_SECRET_WORD = r"[\w-]*(?:token|secret|password|passwd|api[_-]?key|apikey|authorization|signature)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Interaction callbacks and webhook (interaction follow-up) routes: the token is the
    # segment after the id.
    (re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/\s?#'\"<>]+"), rf"\1{REDACTED}"),
    # "token": "…" / 'token': '…' / "x-api-key": "…" in JSON or a dict's repr.
    (
        re.compile(rf"""((["']){_SECRET_WORD}\2\s*:\s*)(["'])(?:(?!\3)[^\\]|\\.)*\3""", re.I),
        rf"\1\3{REDACTED}\3",
    ),
    # token=… in a query string or keyword arguments.
    (
        re.compile(rf"""(\b{_SECRET_WORD}=)(["']?)[^\s&'",)]+\2""", re.I),
        rf"\1\2{REDACTED}\2",
    ),
    # Authorization header values.
    (re.compile(r"\b(Bot|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}"), rf"\1 {REDACTED}"),
    # Anything shaped like a Discord bot token (user id . timestamp . HMAC).
    (re.compile(r"\b[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6,7}\.[A-Za-z\d_-]{27,40}\b"), REDACTED),
    # Interaction tokens start with base64 of "interaction:".
    (re.compile(r"aW50ZXJhY3Rpb246[A-Za-z0-9_.-]*"), REDACTED),
)


class RedactSecrets(logging.Filter):
    """Rewrites each record's text with every token and secret replaced by ``[redacted]``.

    ``secrets``: the values of the configured secrets (bot token, provider keys, webhook
    secret), redacted wherever they appear, also URL-encoded.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                values |= {secret, urllib.parse.quote(secret, safe=""), repr(secret)[1:-1]}
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._rewrite(record)
        except Exception:  # never let a secret through because redaction failed
            record.msg, record.args = "[log record withheld: redaction failed]", ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def _rewrite(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, redacted
            message = f"{record.msg} (arguments: {record.args!r})"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)


class JsonLines(JsonFormatter):
    """One JSON object a line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    then ``job_id``, ``guild_id`` and ``model`` when known, ``exc_info`` and ``stack_info``
    when there are any. Nothing else, whatever the record carries: the fields are an
    allow-list, so an ``extra`` or an attribute a library set cannot carry a secret around
    :class:`RedactSecrets`, which must sit on the same handler (it rewrites the message, its
    arguments and the exception text this formatter writes)."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # ``message_dict`` is left out: it holds the exception as the library formatted it
        # from ``exc_info`` (not redacted) and the items of a dict passed as the message.
        created = datetime.fromtimestamp(record.created, UTC)
        log_data["time"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.getMessage()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, int | str) and not isinstance(value, bool):
                log_data[name] = value
        if record.exc_text:
            log_data["exc_info"] = record.exc_text
        if record.stack_info:
            log_data["stack_info"] = record.stack_info


def configured_secrets(settings: Settings) -> list[str]:
    """The values of every secret setting that is set: each ``SecretStr`` field, so that a
    secret setting added later is covered without being named here."""
    values = []
    for name in type(settings).model_fields:
        secret = getattr(settings, name, None)
        if isinstance(secret, SecretStr) and secret.get_secret_value():
            values.append(secret.get_secret_value())
    return values


def build_handler(
    *, secrets: Iterable[str] = (), stream: TextIO | None = None, log_format: str = "text"
) -> logging.Handler:
    """The one handler, not yet installed: the context filter, then the redaction filter, then
    the text or JSON formatter (filters run before the formatter sees the record)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(FORMAT))
    handler.addFilter(AddLogContext())
    handler.addFilter(RedactSecrets(secrets))
    return handler


def configure_logging(
    level: str,
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    log_format: str = "text",
) -> logging.Handler:
    """Log at ``level`` to ``stream`` (stderr) through :class:`RedactSecrets`, as text or, with
    ``log_format="json"``, as :class:`JsonLines` (Python's warnings then go through the log
    too, so that every line is JSON). Called again, it replaces its own handler rather than
    adding a second."""
    handler = build_handler(secrets=secrets, stream=stream, log_format=log_format)
    logging.captureWarnings(log_format == "json")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_AT_DEBUG:
        quiet = logging.getLogger(name)
        quiet.setLevel(logging.INFO if root.getEffectiveLevel() < logging.INFO else logging.NOTSET)
    # An exception nothing caught would be printed by Python itself, past the filter above.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return handler


def _log_uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("bot").critical("uncaught exception", exc_info=(kind, error, trace))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("bot").critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
