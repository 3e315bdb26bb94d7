"""Fetch a member's attachment from a public URL (Discord's CDN) with a byte cap and a deadline.

Why this module exists: an attachment's body is untrusted and its size is only what the server
says. Reading it whole before checking would let one file exhaust memory, and a stalled transfer
would hold a job forever. Here the body is streamed, counted and cut off at ``max_bytes``, under
one total timeout, and every failure becomes a :class:`MediaRejected` the member can act on.

What it must never do: send credentials (no ``Authorization`` header, no session with default
auth), or fetch member-typed URLs: callers pass attachment URLs that Discord gave them, since
this module does not check where a URL points.
"""

from __future__ import annotations

import aiohttp

from bot.i18n import _
from bot.media.errors import MediaRejected, megabytes

DOWNLOAD_TIMEOUT_SECONDS = 60.0
_CHUNK_BYTES = 64 * 1024


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    name: str = "file",
    source: str = "Discord",
    advice: str | None = None,
) -> bytes:
    """The body of ``url``, at most ``max_bytes`` long, fetched within the download deadline.

    ``name`` is the member's filename and ``source`` where it lives, both for messages, and
    ``advice`` what a failed download's message ends with (what the member can do; by default
    "attach it again."), in the member's words. Raises
    :class:`MediaRejected` on an HTTP error, a connection failure, a timeout or an oversize body;
    raises :class:`ValueError` if ``session`` would send credentials (a programming error).
    """
    if session.auth is not None or "Authorization" in session.headers:
        raise ValueError("download() fetches public URLs; pass a session without credentials")
    if not url.startswith(("https://", "http://")):
        raise MediaRejected(
            _(
                "Couldn't download {file}: the link isn't a web address. Attach the file again."
            ).format(file=name)
        )
    again = _("attach it again.") if advice is None else advice
    try:
        async with session.get(
            url,
            timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS),
            # Ask for the body as stored, so the cap counts real bytes, not a compressed stream.
            headers={"Accept-Encoding": "identity"},
        ) as response:
            if response.status != 200:
                raise MediaRejected(
                    _("Couldn't download {file} from {source} (HTTP {status}); {advice}").format(
                        file=name, source=source, status=response.status, advice=again
                    )
                )
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise _too_big(name, max_bytes, declared)
            body = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                body += chunk
                if len(body) > max_bytes:
                    raise _too_big(name, max_bytes)
            return bytes(body)
    except TimeoutError as exc:
        raise MediaRejected(
            _(
                "Couldn't download {file} from {source}: it took longer than {seconds} seconds; "
                "{advice}"
            ).format(
                file=name, source=source, seconds=f"{DOWNLOAD_TIMEOUT_SECONDS:g}", advice=again
            )
        ) from exc
    except aiohttp.ClientError as exc:
        raise MediaRejected(
            _("Couldn't download {file} from {source} (the connection failed); {advice}").format(
                file=name, source=source, advice=again
            )
        ) from exc


def _too_big(name: str, max_bytes: int, size: int | None = None) -> MediaRejected:
    limit = megabytes(max_bytes)
    if size:
        text = _("{file} is {size}; the limit is {limit}. Use a smaller file.")
    else:
        text = _("{file} is over the {limit} limit. Use a smaller file.")
    return MediaRejected(text.format(file=name, size=megabytes(size or 0), limit=limit))
