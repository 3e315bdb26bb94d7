"""Typed provider errors, each with a message for the member and a detail for the operator.

Why this module exists: the job engine must tell apart "the provider refused, nothing was billed"
(bad key, no balance, invalid request), "try again later" (rate limit, outage) and "we do not
know whether a task was created" (a create that may have reached the provider). Each answer
leads to a different thing for the member and the ledger.

What it must never do: carry a secret. ``detail`` is built from the provider's answer (truncated)
and never from our request headers.
"""

from __future__ import annotations

from bot.i18n import N_

DETAIL_LIMIT = 300


def clip(text: str, limit: int = DETAIL_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProviderError(Exception):
    """Base of every provider failure.

    ``user_message`` is safe to show a member (English, stored with the job; a catalog entry the
    front end translates); ``detail`` is for logs; ``transient`` says whether
    the same call may succeed later without changing anything.
    """

    user_message = N_("The generation service failed. Nothing was charged; please try again later.")
    transient = False

    def __init__(self, detail: str, *, status: int | None = None, provider: str = "") -> None:
        self.detail = clip(detail)
        self.status = status
        self.provider = provider
        super().__init__(self.detail)

    def __str__(self) -> str:
        where = f"{self.provider} " if self.provider else ""
        code = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{where}{type(self).__name__}: {code}{self.detail}"


class AuthenticationFailed(ProviderError):
    user_message = N_(
        "The bot's API key for the generation service was refused. An admin needs to "
        "check the key; nothing was charged."
    )


class InsufficientBalance(ProviderError):
    user_message = N_(
        "The generation account is out of balance. An admin needs to top it up; "
        "nothing was charged."
    )


class Forbidden(ProviderError):
    user_message = N_(
        "The generation service refused this request (forbidden). An admin needs to "
        "check the account's access to this model; nothing was charged."
    )


REJECTED = N_("The generation service rejected the request: {detail}. Nothing was charged.")
"""InvalidRequest's message, stored in English; bot.i18n.stored reads ``detail`` back."""


class InvalidRequest(ProviderError):
    """400/422: the provider says the request is wrong. Its own words go to the member."""

    def __init__(self, detail: str, *, status: int | None = 400, provider: str = "") -> None:
        super().__init__(detail, status=status, provider=provider)
        self.user_message = REJECTED.format(detail=self.detail)


class TaskNotFound(ProviderError):
    user_message = N_("The generation service no longer knows this task.")


class RequestRefused(ProviderError):
    """409, 423, 451 and other 4xx answers that are final but not the member's fault."""

    user_message = N_("The generation service refused this request. Nothing was charged.")


class RateLimited(ProviderError):
    """429: rate limit, quota or daily spend limit. ``retry_after`` in seconds when announced."""

    user_message = N_(
        "The generation service is busy or the account hit its spending limit. "
        "Nothing was charged; please try again in a few minutes."
    )
    transient = True

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = 429,
        provider: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, status=status, provider=provider)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, timeouts, dropped connections, malformed JSON: the provider is down or broken."""

    user_message = N_(
        "The generation service is unavailable right now. Nothing was charged; "
        "please try again later."
    )
    transient = True


class SubmissionOutcomeUnknown(ProviderError):
    """A create request may have reached the provider but no task id came back.

    It must not be resent automatically: if the first one was accepted, a resend bills twice.
    """

    user_message = N_(
        "The generation service did not confirm whether it accepted this request, so the "
        "bot has no task to follow and no result will be posted for it. It was not resent "
        "automatically, to avoid paying twice; use Retry to make a new request."
    )
