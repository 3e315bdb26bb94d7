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

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Failures that prove the request never left this process: the TCP (or TLS) connection was never
# established. Everything else that goes wrong during a request may have reached the provider.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


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
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def error_detail(body: object, fallback: str) -> str:
    """The provider's explanation from an error body of any of the documented shapes.

    Tries, in order: a string ``detail``, ``error`` or ``message``; an ``error`` object's
    ``detail``/``message``/``title``; then ``task_info.error.detail``/``title``.
    """
    if not isinstance(body, dict):
        return fallback
    for key in ("detail", "error", "message"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value
    candidates = [body.get("error")]
    task_info = body.get("task_info")
    if isinstance(task_info, dict):
        candidates.append(task_info.get("error"))
    for error in candidates:
        if isinstance(error, dict):
            for key in ("detail", "message", "title"):
                value = error.get(key)
                if isinstance(value, str) and value.strip():
                    return value
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


@dataclass(slots=True)
class _Answer:
    status: int
    body: object
    retry_after: float | None
    readable: bool


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
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"ProviderHTTP(provider={self.provider.value!r}, base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Accept": "application/json",
        }

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> _Answer:
        self.requests_sent += 1
        async with self._session.request(
            method,
            self.base_url + path,
            json=body,
            headers=self._headers(),
            timeout=self._timeout,
            allow_redirects=False,
        ) as response:
            raw = await response.read()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            try:
                parsed: object = json.loads(raw) if raw else None
                readable = raw != b""
            except (UnicodeDecodeError, json.JSONDecodeError):
                parsed, readable = raw[:200].decode("utf-8", "replace"), False
            return _Answer(response.status, parsed, retry_after, readable)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new task; return the provider's JSON answer. See the module doc for retries."""
        policy = self.create_retry
        for attempt in range(policy.attempts):
            last_try = attempt + 1 >= policy.attempts
            try:
                answer = await self._send("POST", path, body)
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
