"""Downloading generated results to disk, streamed and capped.

Why this module exists: result URLs expire (upstream keeps them about 24 hours) and a 15 s 1080P
video is large, so results are fetched promptly, written in chunks to a temporary file and
renamed into place only when complete: never held whole in memory, never left half-written
under the final name. Image results are posted publicly, so their metadata is dropped (losslessly)
before they are.

What it must never do: send the provider's API key to a result host (these requests carry no
``Authorization`` header), or name a file after the member's prompt.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

import aiohttp

from bot.media.metadata import MetadataError, is_image_file, strip_metadata

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
_EXTENSIONS = {".mp4", ".mov", ".webm", ".png", ".jpg", ".jpeg", ".webp"}


class ResultTooLarge(Exception):
    """The result is bigger than the configured cap."""


class ResultDownloadFailed(Exception):
    """The result could not be fetched after retries."""


def result_filename(
    stem: str, index: int, url: str, content_type: str | None, default_ext: str
) -> str:
    """A short, safe filename: ``<stem>-<index><ext>``, extension from the URL or MIME type."""
    ext = PurePosixPath(urlsplit(url).path).suffix.lower()
    if ext not in _EXTENSIONS and content_type:
        ext = (mimetypes.guess_extension(content_type.split(";")[0].strip()) or "").lower()
    if ext not in _EXTENSIONS:
        ext = default_ext
    safe_stem = "".join(ch for ch in stem if ch.isalnum() or ch in "-_")[:40] or "result"
    return f"{safe_stem}-{index + 1}{ext}"


async def download_result(
    session: aiohttp.ClientSession,
    url: str,
    dest_dir: Path,
    *,
    stem: str,
    index: int,
    default_ext: str,
    max_bytes: int,
    attempts: int = 3,
    retry_delay: float = 2.0,
    total_seconds: float = 300.0,
) -> Path:
    """Fetch one result URL into ``dest_dir``; return its path.

    Transient failures (connection errors, timeouts, 5xx, 429) are retried; a body larger than
    ``max_bytes`` raises :class:`ResultTooLarge` as soon as the cap is crossed.
    """
    await asyncio.to_thread(dest_dir.mkdir, parents=True, exist_ok=True)
    last_error = "no attempt made"
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(min(retry_delay * 2 ** (attempt - 1), 30.0))
        try:
            return await _fetch_once(
                session,
                url,
                dest_dir,
                stem=stem,
                index=index,
                default_ext=default_ext,
                max_bytes=max_bytes,
                total_seconds=total_seconds,
            )
        except ResultTooLarge:
            raise
        except _Retryable as exc:
            last_error = str(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "result download %s failed (%s), try %d of %d",
            _host(url),
            last_error,
            attempt + 1,
            attempts,
        )
    raise ResultDownloadFailed(f"could not download the result from {_host(url)}: {last_error}")


class _Retryable(Exception):
    pass


async def _fetch_once(
    session: aiohttp.ClientSession,
    url: str,
    dest_dir: Path,
    *,
    stem: str,
    index: int,
    default_ext: str,
    max_bytes: int,
    total_seconds: float,
) -> Path:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=total_seconds)) as response:
        if response.status == 429 or response.status >= 500:
            raise _Retryable(f"HTTP {response.status}")
        if response.status != 200:
            raise ResultDownloadFailed(f"{_host(url)} answered HTTP {response.status}")
        declared = response.content_length
        if declared is not None and declared > max_bytes:
            raise ResultTooLarge(f"result is {declared} bytes; the cap is {max_bytes}")
        name = result_filename(stem, index, url, response.content_type, default_ext)
        final = dest_dir / name
        partial = final.with_name(f".{name}.part")
        received = 0
        try:
            with partial.open("wb") as handle:
                async for chunk in response.content.iter_chunked(CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise ResultTooLarge(f"result exceeds the cap of {max_bytes} bytes")
                    handle.write(chunk)
            if declared is not None and received != declared:
                raise _Retryable(f"body ended after {received} of {declared} bytes")
            if not await asyncio.to_thread(looks_whole, partial):
                raise _Retryable(f"the {final.suffix} file is cut short ({received} bytes)")
            await asyncio.to_thread(drop_image_metadata, partial)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
    return final


def looks_whole(path: Path) -> bool:
    """Whether a downloaded MP4, PNG, JPEG or WebP file is complete: its container's own
    lengths account for every byte (an upstream file cut short still carries a consistent
    ``Content-Length``, and a member must not be sent half a video). Other types pass."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if head[4:8] == b"ftyp":
            return _mp4_boxes_fill(handle, size)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            handle.seek(max(size - 12, 0))
            return handle.read(12)[4:8] == b"IEND"
        if head.startswith(b"\xff\xd8"):
            handle.seek(max(size - 2, 0))
            return handle.read(2) == b"\xff\xd9"
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return int.from_bytes(head[4:8], "little") + 8 == size
    return True


def drop_image_metadata(path: Path) -> bool:
    """Rewrite a downloaded JPEG, PNG or WebP without its metadata (:mod:`bot.media.metadata`:
    lossless, the compressed pixels untouched), since the bot posts it publicly; other files
    and files whose structure does not parse are left as they are. Returns whether it changed.
    """
    with path.open("rb") as handle:
        if not is_image_file(handle.read(12)):
            return False
    data = path.read_bytes()
    try:
        stripped = strip_metadata(data)
    except MetadataError as exc:
        log.warning("result %s: metadata left in place, unreadable container (%s)", path.name, exc)
        return False
    if stripped is data:
        return False
    path.write_bytes(stripped)
    return True


def _mp4_boxes_fill(handle: BinaryIO, size: int) -> bool:
    """Top-level ISO-BMFF boxes, each length-prefixed, must end exactly at the end of file."""
    offset = 0
    while offset < size:
        handle.seek(offset)
        header = handle.read(16)
        if len(header) < 8:
            return False
        length = int.from_bytes(header[:4], "big")
        if length == 1:  # a 64-bit length follows the type
            if len(header) < 16:
                return False
            length = int.from_bytes(header[8:16], "big")
        elif length == 0:  # the box runs to the end of the file
            return True
        if length < 8:
            return False
        offset += length
    return offset == size


def _host(url: str) -> str:
    return urlsplit(url).netloc or "?"
