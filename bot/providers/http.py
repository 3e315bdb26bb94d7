"""HTTP to the providers: one shared session, authentication, retries and error mapping.

Why this module exists: the rules for *when a request may be sent again* are the difference
between a reliable bot and one that bills twice, so they live in exactly one place:

* **Looking** at a task (GET) is harmless to repeat. 429, 5xx, timeouts, dropped connections and
  malformed JSON are retried with exponential backoff and full jitter, honouring ``Retry-After``.
  When the tries run out the error raised is *transient*: the caller polls again later; it
  never fails a task by itself.
* A ``Retry-After`` longer than ``inline_retry_after_cap`` is never slept here (the caller holds
  one of its provider's request slots while this runs): the error is raised with its
  ``retry_after`` and the engine reschedules the look or the create for then.
* An answer is read defensively: at most ``MAX_ANSWER_BYTES``, JSON that ``json.loads`` cannot
  take (deep nesting, huge integers) is "unreadable" like malformed JSON, and error texts are
  clipped and stripped of control characters before they reach a member.
* **Creating** a task (POST) is repeated only when the provider certainly did not accept it:
  the connection could not be opened (nothing was sent), or it answered 429 or 503 (it said no).
  Any other failure after the request may have left (a timeout, a dropped connection, another
  5xx, a 2xx we cannot read) raises :class:`SubmissionOutcomeUnknown` and is never resent here.

What it must never do: send the API key anywhere but the provider's base URL, or put it in an
error (errors carry the provider's answer, clipped, and nothing from our headers).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.config import ProviderName
from bot.providers.errors import (
    AuthenticationFailed,
    Forbidden,
    InsufficientBalance,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRefused,
    SubmissionOutcomeUnknown,
    TaskNotFound,
    clip,
)
from bot.providers.reading import text
from bot.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Failures that prove the request never left this process: the TCP (or TLS) connection was never
# established. Everything else that goes wrong during a request may have reached the provider.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)

# A task's answer is a few hundred bytes; one past this is not read (nor held in memory) at all.
MAX_ANSWER_BYTES = 1024 * 1024
MAX_RETRY_AFTER_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try, and how long to wait in between (seconds)."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    retry_after_cap: float = 120.0
    # Longest Retry-After slept inline; longer ones are handed back to the caller.
    inline_retry_after_cap: float = 1.0

    def delay(self, retry_number: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before retry ``retry_number`` (0 for the first retry).

        A provider's ``Retry-After`` wins (capped); otherwise exponential backoff with full
        jitter, so that many jobs failing together do not retry together.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        ceiling = min(self.max_delay, self.base_delay * (2**retry_number))
        return rng.uniform(0, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date; at most a day.

    Anything else (``nan``, ``inf``, a date of year 99999) is as if no header was sent.
    """
    if not value:
        return None
    value = value.strip()[:100]
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def error_detail(body: object, fallback: str) -> str:
    """The provider's explanation from an error body of any of the documented shapes.

    Tries, in order: a string ``detail``, ``error`` or ``message``; an ``error`` object's
    ``detail``/``message``/``title``; then ``task_info.error.detail``/``title``. Always short
    printable text (:func:`~bot.providers.reading.text`): it is shown to members.
    """
    if not isinstance(body, dict):
        return fallback
    for key in ("detail", "error", "message"):
        value = body.get(key)
        if isinstance(value, str) and text(value):
            return text(value)
    candidates = [body.get("error")]
    task_info = body.get("task_info")
    if isinstance(task_info, dict):
        candidates.append(task_info.get("error"))
    for error in candidates:
        if isinstance(error, dict):
            for key in ("detail", "message", "title"):
                value = error.get(key)
                if isinstance(value, str) and text(value):
                    return text(value)
    return fallback


def classify(status: int, body: object, *, provider: str, on_create: bool) -> ProviderError:
    """Map an HTTP error answer to a typed error carrying the provider's own words."""
    detail = error_detail(body, f"HTTP {status}")
    if status in (400, 422):
        return InvalidRequest(detail, status=status, provider=provider)
    if status == 401:
        return AuthenticationFailed(detail, status=status, provider=provider)
    if status == 402:
        return InsufficientBalance(detail, status=status, provider=provider)
    if status == 403:
        return Forbidden(detail, status=status, provider=provider)
    if status == 404 and not on_create:
        return TaskNotFound(detail, status=status, provider=provider)
    if status == 429:
        return RateLimited(detail, status=status, provider=provider)
    if status >= 500:
        return ProviderUnavailable(detail, status=status, provider=provider)
    return RequestRefused(detail, status=status, provider=provider)


def decode_body(raw: bytes) -> tuple[object, bool]:
    """An answer's bytes as JSON and whether that worked; unreadable bodies come back as the
    start of their text (for an error message). Never raises: besides malformed JSON,
    ``json.loads`` refuses integers of over 4300 digits (ValueError) and very deep nesting
    (RecursionError)."""
    if not raw:
        return None, False
    try:
        return json.loads(raw), True
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        return raw[:200].decode("utf-8", "replace"), False


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes | None:
    """The whole body, or ``None`` once it grows past ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(body: object) -> bytes:
    """``json.dumps(body).encode()``, byte for byte, without JSON-escaping long strings.

    A create body carries images as ``data:`` URIs of megabytes; ``json.dumps`` examines and
    copies every character of them (about 30 ms per 11 MB, holding the GIL the image checks
    and the event loop need). A long string made only of characters JSON writes as they are
    (printable ASCII but ``"`` and ``\\``; base64 always is) is spliced in as its bytes
    instead, after one ``bytes.translate`` pass that proves it; everything else, and every
    separator, is ``json.dumps``'s own output, so the body is the same bytes either way.
    """
    pieces: list[bytes] = []
    _json_pieces(body, pieces)
    return b"".join(pieces)


# Strings shorter than this are left to json.dumps: splicing pays only for image payloads.
SPLICE_MIN_CHARS = 4096
# What json.dumps (ensure_ascii) writes as it is: " " to "~" but the quote and the backslash.
_JSON_VERBATIM = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')


def _json_pieces(value: object, out: list[bytes]) -> None:
    if isinstance(value, str) and len(value) >= SPLICE_MIN_CHARS and value.isascii():
        raw = value.encode("ascii")
        if not raw.translate(None, _JSON_VERBATIM):
            out += (b'"', raw, b'"')
            return
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        out.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            out.append(b", " if index else b"")
            out += (json.dumps(key).encode(), b": ")
            _json_pieces(item, out)
        out.append(b"}")
    elif isinstance(value, list | tuple):
        out.append(b"[")
        for index, item in enumerate(value):
            out.append(b", " if index else b"")
            _json_pieces(item, out)
        out.append(b"]")
    else:
        out.append(json.dumps(value).encode())


@dataclass(slots=True)
class _Answer:
    status: int
    body: object
    retry_after: float | None
    readable: bool


def request_outcome(answer: _Answer) -> str:
    """How one answered request ended, as a metrics label (a closed set)."""
    if answer.status == 429:
        return "rate_limited"
    if answer.status >= 500:
        return "server_error"
    if not 200 <= answer.status < 300:
        return "client_error"  # 4xx, and redirects (never followed)
    return "ok" if answer.readable and isinstance(answer.body, dict) else "unreadable"


class ProviderHTTP:
    """JSON over HTTP to one provider, with that provider's key, on a shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        provider: ProviderName,
        base_url: str,
        api_key: SecretStr,
        timeout: float = 30.0,
        create_retry: RetryPolicy | None = None,
        poll_retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._session = session
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        self.create_retry = create_retry or RetryPolicy(attempts=3)
        self.poll_retry = poll_retry or RetryPolicy(attempts=4)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._telemetry = telemetry
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"ProviderHTTP(provider={self.provider.value!r}, base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Accept": "application/json",
        }

    async def _send(self, method: str, path: str, body: bytes | None) -> _Answer:
        """One request; ``body`` is JSON already encoded (:func:`json_body`), sent as it is.
        Each is reported to the telemetry with how it ended."""
        operation = "create" if method == "POST" else "poll"
        try:
            answer = await self._send_once(method, path, body)
        except (TimeoutError, aiohttp.ClientError):
            self._telemetry.provider_request(self.provider.value, operation, "network_error")
            raise
        self._telemetry.provider_request(self.provider.value, operation, request_outcome(answer))
        return answer

    async def _send_once(self, method: str, path: str, body: bytes | None) -> _Answer:
        self.requests_sent += 1
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        async with self._session.request(
            method,
            self.base_url + path,
            data=body,
            headers=headers,
            timeout=self._timeout,
            allow_redirects=False,
        ) as response:
            raw = await _read_capped(response.content, MAX_ANSWER_BYTES)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if raw is None:
                too_big = f"an answer over {MAX_ANSWER_BYTES} bytes"
                return _Answer(response.status, too_big, retry_after, readable=False)
            parsed, readable = decode_body(raw)
            return _Answer(response.status, parsed, retry_after, readable)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new task; return the provider's JSON answer. See the module doc for retries."""
        policy = self.create_retry
        encoded = json_body(body)  # once, however many tries
        for attempt in range(policy.attempts):
            last_try = attempt + 1 >= policy.attempts
            try:
                answer = await self._send("POST", path, encoded)
            except _NOT_SENT as exc:
                error: ProviderError = ProviderUnavailable(
                    f"could not connect: {type(exc).__name__}", provider=self.provider
                )
                if last_try:
                    raise error from None
                await self._wait(policy, attempt, None, error)
                continue
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise SubmissionOutcomeUnknown(
                    f"create request failed after it was sent: {type(exc).__name__} {exc}",
                    provider=self.provider,
                ) from None
            if 200 <= answer.status < 300:
                if not answer.readable or not isinstance(answer.body, dict):
                    raise SubmissionOutcomeUnknown(
                        f"create answered HTTP {answer.status} with an unreadable body: "
                        f"{clip(str(answer.body), 120)}",
                        status=answer.status,
                        provider=self.provider,
                    )
                return answer.body
            if answer.status in (429, 503):
                error = classify(answer.status, answer.body, provider=self.provider, on_create=True)
                if isinstance(error, RateLimited):
                    error.retry_after = answer.retry_after
                if last_try:
                    raise error
                await self._wait(policy, attempt, answer.retry_after, error)
                continue
            if answer.status >= 500:
                raise SubmissionOutcomeUnknown(
                    f"create answered HTTP {answer.status}: "
                    f"{error_detail(answer.body, 'no detail')}",
                    status=answer.status,
                    provider=self.provider,
                )
            raise classify(answer.status, answer.body, provider=self.provider, on_create=True)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    async def get(self, path: str) -> dict[str, Any]:
        """GET a task's state, retrying transient failures; raise transient errors at the end."""
        policy = self.poll_retry
        for attempt in range(policy.attempts):
            last_try = attempt + 1 >= policy.attempts
            retry_after = None
            try:
                answer = await self._send("GET", path, None)
            except (TimeoutError, aiohttp.ClientError) as exc:
                error: ProviderError = ProviderUnavailable(
                    f"poll failed: {type(exc).__name__} {exc}", provider=self.provider
                )
            else:
                if 200 <= answer.status < 300 and answer.readable and isinstance(answer.body, dict):
                    return answer.body
                if 200 <= answer.status < 300:
                    error = ProviderUnavailable(
                        f"poll answered HTTP {answer.status} with an unreadable body: "
                        f"{clip(str(answer.body), 120)}",
                        status=answer.status,
                        provider=self.provider,
                    )
                else:
                    error = classify(
                        answer.status, answer.body, provider=self.provider, on_create=False
                    )
                    if not error.transient:
                        raise error
                    retry_after = answer.retry_after
                    if isinstance(error, RateLimited):
                        error.retry_after = retry_after
            if last_try:
                raise error
            await self._wait(policy, attempt, retry_after, error)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    async def _wait(
        self, policy: RetryPolicy, attempt: int, retry_after: float | None, error: ProviderError
    ) -> None:
        if retry_after is not None and retry_after > policy.inline_retry_after_cap:
            if isinstance(error, RateLimited):
                error.retry_after = min(retry_after, policy.retry_after_cap)
            raise error
        delay = policy.delay(attempt, retry_after, self._rng)
        log.warning(
            "%s; retrying in %.1fs (try %d of %d)", error, delay, attempt + 2, policy.attempts
        )
        await self._sleep(delay)
