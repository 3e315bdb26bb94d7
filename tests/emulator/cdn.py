"""The CDN: attachment bytes behind signed, expiring URLs, for test inputs and bot uploads.

Why this module exists: attachment options and uploaded files are fetched by URL; like Discord,
URLs carry ``ex``/``is``/``hm`` and stop working when they expire, so a bot that keeps a URL
for later instead of downloading at once fails here as it would in production.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.emulator.snowflakes import SnowflakeFactory

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Blob:
    id: int
    filename: str
    content_type: str | None
    data: bytes
    folder: str  # "attachments/<channel>" or "ephemeral-attachments/<app>"
    issued: int
    width: int | None = None
    height: int | None = None
    description: str | None = None
    ephemeral: bool = False
    expired: bool = False


def sanitize_filename(name: str) -> str:
    """Discord keeps ASCII letters, digits, ``._-`` and turns the rest into ``_``."""
    cleaned = _UNSAFE.sub("_", name.strip()) or "unknown"
    return cleaned


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


class Cdn:
    def __init__(
        self,
        ids: SnowflakeFactory,
        base_url: Callable[[], str],
        ttl_seconds: Callable[[], float],
        application_id: int,
    ) -> None:
        self._ids = ids
        self._base_url = base_url
        self._ttl = ttl_seconds
        self._app_id = application_id
        self._secret = secrets.token_bytes(16)
        self.blobs: dict[int, Blob] = {}
        self.downloads: list[str] = []  # paths fetched, in order

    # -- test API ------------------------------------------------------------------------------
    def add(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        channel: Any = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """A file a user uploads (e.g. for an attachment option): returns the Attachment dict
        with ``url``, ``proxy_url``, ``size``, ``content_type`` and, for images,
        ``width``/``height``. Without ``channel`` it is an ephemeral upload, as with options."""
        channel_id = getattr(channel, "id", channel)
        blob = self.store(
            filename, data, content_type, channel_id=channel_id, description=description
        )
        return self.payload(blob)

    def bytes_of(self, attachment: Any) -> bytes:
        """The bytes behind an Attachment dict, its id, or its URL."""
        return self.blob_of(attachment).data

    def blob_of(self, attachment: Any) -> Blob:
        if isinstance(attachment, dict):
            attachment = attachment["id"]
        if isinstance(attachment, str) and not attachment.isdigit():
            match = re.search(r"/(\d+)/[^/?]+(?:\?|$)", attachment)
            if match is None:
                raise KeyError(attachment)
            attachment = match.group(1)
        return self.blobs[int(attachment)]

    def expire(self, attachment: Any) -> None:
        """Make the signed URLs of ``attachment`` expired, as after 24 hours."""
        self.blob_of(attachment).expired = True

    # -- storage -------------------------------------------------------------------------------
    def store(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
        description: str | None = None,
    ) -> Blob:
        name = sanitize_filename(filename)
        # Like Discord, trust the file name over a generic part type (discord.py sends
        # application/octet-stream for every file).
        guessed = mimetypes.guess_type(name)[0]
        if guessed and content_type in (None, "application/octet-stream"):
            content_type = guessed
        blob_id = self._ids.next()
        folder = (
            f"attachments/{channel_id}"
            if channel_id is not None
            else f"ephemeral-attachments/{self._app_id}"
        )
        blob = Blob(
            id=blob_id,
            filename=name,
            content_type=content_type,
            data=bytes(data),
            folder=folder,
            issued=int(time.time()),
            description=description,
            ephemeral=channel_id is None,
        )
        if content_type and content_type.startswith("image/"):
            size = image_size(blob.data)
            if size is not None:
                blob.width, blob.height = size
        self.blobs[blob_id] = blob
        return blob

    def payload(self, blob: Blob) -> dict[str, Any]:
        path = f"{blob.folder}/{blob.id}/{blob.filename}"
        query = self._signature(path, blob)
        base = self._base_url()
        data: dict[str, Any] = {
            "id": str(blob.id),
            "filename": blob.filename,
            "size": len(blob.data),
            "url": f"{base}/cdn/{path}?{query}",
            "proxy_url": f"{base}/media/{path}?{query}",
        }
        if blob.content_type:
            data["content_type"] = blob.content_type
        if blob.width is not None:
            data["width"], data["height"] = blob.width, blob.height
            data["placeholder"], data["placeholder_version"] = "3PcFDQKX2HeGiHiAd3d4CIeJeA==", 1
        if blob.description:
            data["description"] = blob.description
        if blob.ephemeral:
            data["ephemeral"] = True
        return data

    def _signature(self, path: str, blob: Blob) -> str:
        now = int(time.time())
        expires = now + max(1, round(self._ttl()))
        ex, issued = f"{expires:x}", f"{now:x}"
        mac = hmac.new(self._secret, f"{path}|{ex}|{issued}".encode(), hashlib.sha256)
        return f"ex={ex}&is={issued}&hm={mac.hexdigest()}&"

    # -- HTTP ----------------------------------------------------------------------------------
    async def handle(self, request: web.Request, tail: str) -> web.StreamResponse:
        self.downloads.append(tail)
        gone = web.Response(
            status=404, text="This content is no longer available.", content_type="text/plain"
        )
        match = re.fullmatch(r"((?:ephemeral-)?attachments/\d+)/(\d+)/([^/]+)", tail)
        if match is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        blob = self.blobs.get(int(match.group(2)))
        if blob is None or blob.filename != match.group(3) or blob.folder != match.group(1):
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        ex, issued, hm = (request.query.get(k, "") for k in ("ex", "is", "hm"))
        mac = hmac.new(self._secret, f"{tail}|{ex}|{issued}".encode(), hashlib.sha256)
        try:
            expires = int(ex, 16)
        except ValueError:
            return gone
        if blob.expired or not hmac.compare_digest(mac.hexdigest(), hm) or expires < time.time():
            return gone
        return web.Response(
            body=blob.data,
            headers={
                "Content-Type": blob.content_type or "application/octet-stream",
                "Cache-Control": "public, max-age=31536000",
            },
        )
