"""The last frame of a video result, as a PNG a Wan image-to-video model accepts as its input.

Why this module exists: **Extend** continues a clip from where it ended, so the new job's first
frame must be the old clip's last one, decoded from the MP4 exactly (not a thumbnail, not a
guess from the duration). The video is read back from Discord's CDN or a provider link, so its
bytes are treated like any member's file: capped before decoding, bounded in pixels and frames,
decoded on the image checks' pool (:data:`bot.media.images.DECODE_POOL`), and every failure is a
:class:`MediaRejected` in words a member can act on.

How: the file is demuxed without decoding (cheap: compressed packets only), keeping the packets
from the last keyframe on; only that last group of pictures is decoded, and the frame shown last
(highest presentation time) is kept. A file whose sample table promises more frames than it
holds, or whose last packet is cut short, is refused as incomplete rather than answered with an
earlier frame. The frame is scaled (Lanczos) only when it is outside the model's pixel bounds
(the simulator's 320×180 sample, say), and encoded losslessly.

What it must never do:

- decode on the event loop (:func:`last_frame_async` runs on the decode pool) or with more than
  one thread per file (the pool's size is the bound on the machine's cores);
- let ffmpeg pick the format: only the MP4/MOV demuxer is tried, so no playlist, concat or
  other demuxer that reads further files or URLs is ever reached with these bytes;
- decode a stream before its header's width × height is known to be within
  :data:`MAX_FRAME_PIXELS`, or read more than :data:`MAX_VIDEO_BYTES`;
- let a PyAV or Pillow exception escape: every failure is a :class:`MediaRejected`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import math
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
from PIL import Image

from bot.catalog import VIDEO_INPUT_BOUNDS, PixelBounds
from bot.i18n import N_, _
from bot.media.errors import MIB, MediaRejected, megabytes
from bot.media.images import DECODE_POOL

MAX_VIDEO_BYTES = 100 * MIB
"""The largest video read: Discord's largest upload limit (a level 3 server), so every result
posted as a file can be extended. At most :data:`~bot.media.images.MAX_CONCURRENT_DECODES` are
decoded at once."""

MAX_FRAME_PIXELS = 3840 * 2160
"""The most pixels a frame may have (4K UHD), from the stream's header before any decode; Wan's
results are at most 1080P."""

MAX_PACKETS = 20_000
"""The most video packets (frames) demuxed from one file: 11 minutes at 30 fps, far beyond any
Wan clip, and a bound on a file whose sample table claims millions."""

_CONTAINER_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"  # ffmpeg's MP4/MOV demuxer, and only it
# What PyAV and Pillow raise on a damaged or hostile file (PyAV's own errors are all
# av.error.FFmpegError; a file with no streams surfaces as IndexError or ValueError).
_DECODE_ERRORS = (
    av.error.FFmpegError,
    OSError,
    ValueError,
    IndexError,
    EOFError,
)


@dataclass(frozen=True)
class LastFrame:
    """The last frame as PNG bytes, its size as sent, and where in the clip it was shown."""

    png: bytes = field(repr=False)
    width: int
    height: int
    source_width: int
    source_height: int
    seconds: float


def last_frame(
    data: bytes, *, name: str = N_("The video"), bounds: PixelBounds = VIDEO_INPUT_BOUNDS
) -> LastFrame:
    """The last frame of the MP4 ``data``, as a PNG within ``bounds``.

    CPU-bound and synchronous: from the event loop, await :func:`last_frame_async`. ``name``
    is how messages speak of the file (in the member's words). Raises :class:`MediaRejected`.
    """
    name = _(name)  # the default is a catalog entry
    if not data:
        raise MediaRejected(
            _("{file} is empty (0 bytes), so there is no last frame to use.").format(file=name)
        )
    if len(data) > MAX_VIDEO_BYTES:
        raise MediaRejected(
            _("{file} is {size}; videos up to {limit} can be extended.").format(
                file=name, size=megabytes(len(data)), limit=megabytes(MAX_VIDEO_BYTES)
            )
        )
    try:
        frame, source, seconds = _decode_last(data, name)
        target = _fit(frame.size, bounds, name)
        if target != frame.size:
            frame = frame.resize(target, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        frame.save(out, format="PNG")
    except MediaRejected:
        raise
    except _DECODE_ERRORS as exc:
        raise _damaged(name) from exc
    return LastFrame(out.getvalue(), target[0], target[1], source[0], source[1], seconds)


async def last_frame_async(
    data: bytes, *, name: str = N_("The video"), bounds: PixelBounds = VIDEO_INPUT_BOUNDS
) -> LastFrame:
    """:func:`last_frame` on the decode pool shared with image checks."""
    loop = asyncio.get_running_loop()
    work = functools.partial(last_frame, data, name=name, bounds=bounds)
    # In the member's language: the refusals are worded on the pool's thread.
    return await loop.run_in_executor(DECODE_POOL, contextvars.copy_context().run, work)


def _decode_last(data: bytes, name: str) -> tuple[Image.Image, tuple[int, int], float]:
    """The last frame shown, as RGB, with the stream's size and the frame's time in seconds."""
    with av.open(io.BytesIO(data), mode="r", format=_CONTAINER_FORMAT) as container:
        if not container.streams.video:
            raise MediaRejected(
                _("{file} has no video track, so there is no last frame to use.").format(file=name)
            )
        stream = container.streams.video[0]
        context = stream.codec_context
        if context is None:  # a codec this build of ffmpeg has no decoder for
            raise _damaged(name)
        width, height = context.width, context.height
        if width <= 0 or height <= 0:
            raise _damaged(name)
        if width * height > MAX_FRAME_PIXELS:
            raise _too_many_pixels(name, width, height)
        context.thread_count = 1  # the decode pool's size is the bound on cores
        group: list[av.Packet[Any]] = []  # from the last keyframe on
        count = 0
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            if packet.is_corrupt:  # cut short: the file ends inside this frame
                raise _damaged(name)
            count += 1
            if count > MAX_PACKETS:
                raise MediaRejected(
                    _(
                        "{file} has over {count} frames; only shorter videos can be extended."
                    ).format(file=name, count=MAX_PACKETS)
                )
            if packet.is_keyframe:
                group.clear()
            group.append(packet)
        if count == 0 or (stream.frames and count < stream.frames):
            raise _damaged(name)  # the sample table promised frames the file does not hold
        last: av.VideoFrame | None = None
        # One frame at a time (a group of 1080P pictures would be hundreds of megabytes);
        # the None at the end flushes the frames the decoder still holds.
        flush: list[av.Packet[Any] | None] = [None]
        for frame in (f for packet in [*group, *flush] for f in context.decode(packet)):
            if frame.width * frame.height > MAX_FRAME_PIXELS:
                raise _too_many_pixels(name, frame.width, frame.height)
            if last is None or (frame.pts or 0) >= (last.pts or 0):
                last = frame
        if last is None:
            raise _damaged(name)
        seconds = float(last.time or 0.0)
        # PyAV's stubs leave to_image() unannotated; it returns an RGB PIL image.
        image: Image.Image = last.to_image()  # type: ignore[no-untyped-call]
        return image, (width, height), seconds


def _fit(size: tuple[int, int], bounds: PixelBounds, name: str) -> tuple[int, int]:
    """``size`` scaled (aspect kept) so both sides are within ``bounds``; else refuse."""
    width, height = size
    scale = 1.0
    if min(width, height) < bounds.min_side:
        scale = bounds.min_side / min(width, height)
    elif max(width, height) > bounds.max_side:
        scale = bounds.max_side / max(width, height)
    if scale == 1.0:
        return size
    # Up: round up, so the short side reaches the minimum; down: round down, within the maximum.
    fit = math.ceil if scale > 1 else math.floor
    target = (max(1, fit(width * scale)), max(1, fit(height * scale)))
    if min(target) < bounds.min_side or max(target) > bounds.max_side:
        raise MediaRejected(
            _(
                "{file} is {width}×{height} pixels, too long and narrow for an image-to-video "
                "model (each side {low}–{high} pixels), so it can't be extended."
            ).format(
                file=name, width=width, height=height, low=bounds.min_side, high=bounds.max_side
            )
        )
    return target


def _damaged(name: str) -> MediaRejected:
    return MediaRejected(
        _(
            "{file} looks damaged or incomplete, so its last frame can't be read. Extend a "
            "result whose video plays to its end."
        ).format(file=name)
    )


def _too_many_pixels(name: str, width: int, height: int) -> MediaRejected:
    return MediaRejected(
        _(
            "{file} is {width}×{height} pixels; videos up to {limit} pixels a frame (4K) can be "
            "extended."
        ).format(file=name, width=width, height=height, limit=f"{MAX_FRAME_PIXELS:,}")
    )
