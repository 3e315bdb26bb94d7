"""Checking that a webhook really came from the provider: its signature and its age.

Why this module exists: MuleRouter signs its callbacks with HMAC-SHA256 and a ``whsec_…``
secret; the exact headers are on a page of its documentation the project does not have.
``whsec_`` secrets are the Standard Webhooks convention, so that is what is checked here:
``webhook-id``, ``webhook-timestamp`` (UNIX seconds, at most 5 minutes from now either way) and
``webhook-signature: v1,<base64 of HMAC-SHA256(secret, "id.timestamp.body")>`` (several
space-separated signatures allowed, for secret rotation), using the ``standardwebhooks``
library (constant-time comparison, tolerance, base64 secrets). Every assumption about the
header scheme lives in this one file: if MuleRouter turns out to sign differently, this is the
only file to change.

What it must never do: let a body through whose signature it did not check, or put the secret
(or anything derived from it) in a message, a log line or a ``repr``.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping

from pydantic import SecretStr
from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from bot.config import ConfigError


class BadSignature(Exception):
    """The request is not a fresh, correctly signed event. ``str()`` says why (no secret)."""


class SignatureVerifier:
    """Verifies Standard Webhooks signatures with one secret."""

    def __init__(self, secret: SecretStr, *, setting: str) -> None:
        """``setting`` names the environment variable, for the one-line error on a bad secret."""
        try:
            self._webhook = Webhook(secret.get_secret_value().strip())
        except (EmptyWebhookSecretError, binascii.Error, ValueError):
            raise ConfigError(
                f"{setting} is not a usable webhook secret: expected whsec_ followed by base64, "
                "as the provider's console shows it"
            ) from None

    def __repr__(self) -> str:
        return "SignatureVerifier(Standard Webhooks, secret hidden)"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        """The delivery's message id (``webhook-id``) once ``body`` is proven signed and fresh;
        :class:`BadSignature` otherwise."""
        try:
            self._webhook.verify(body, dict(headers), json_parse=False)
        except WebhookVerificationError as exc:
            raise BadSignature(str(exc)) from None
        except (ValueError, TypeError):  # a malformed signature list, not base64, not UTF-8
            raise BadSignature("malformed signature headers") from None
        return {key.lower(): value for key, value in headers.items()}["webhook-id"]
