"""Signing and sending webhooks as MuleRouter would, for the receiver's tests.

Signatures are made with the ``standardwebhooks`` library directly (the sender's side), never
with :mod:`bot.webhooks.signatures`, so a mistake in the receiver cannot be mirrored here.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"the secret of the webhook tests!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's webhook secret!!").decode()


def event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def envelope(
    kind: str,
    task_id: str,
    *,
    status: str,
    videos: list[str] | None = None,
    error: dict[str, Any] | None = None,
    ident: str | None = None,
    model_name: str = "wan2.2-t2v-plus",
    created_at: str | None = None,
) -> dict[str, Any]:
    """An event envelope whose payload has the shape of a MuleRouter poll answer."""
    info: dict[str, Any] = {"id": task_id, "status": status}
    if error is not None:
        info["error"] = error
    payload: dict[str, Any] = {"task_info": info}
    if videos is not None:
        payload["videos"] = videos
    return {
        "id": ident or event_id(),
        "type": kind,
        "created_at": created_at or datetime.now(UTC).isoformat(),
        "data": {"vendor": "alibaba", "model_name": model_name, "payload": payload},
    }


def signed(
    body: bytes, *, ident: str, secret: str = SECRET, timestamp: float | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``."""
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    return {
        "content-type": "application/json",
        "webhook-id": ident,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(ident, moment, body.decode()),
    }


async def post(
    session: aiohttp.ClientSession,
    url: str,
    event: dict[str, Any] | bytes,
    *,
    headers: dict[str, str] | None = None,
    **signing: Any,
) -> tuple[int, dict[str, Any] | None]:
    """POST an event (signed unless ``headers`` are given); (status, JSON answer or None)."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    ident = signing.pop("ident", None) or (
        event.get("id", event_id()) if isinstance(event, dict) else event_id()
    )
    sent = headers if headers is not None else signed(body, ident=ident, **signing)
    async with session.post(url, data=body, headers=sent) as answer:
        try:
            return answer.status, await answer.json(content_type=None)
        except ValueError:
            return answer.status, None
