"""Untrusted media in, a checked ``data:`` URI or audio file (or a refusal with a reason) out.

Why this package exists: everything a member attaches is checked here, before any provider sees
it, so a bad file costs a message instead of a failed (or billed) task. :mod:`.images` repairs or
refuses images (on a small decode pool of its own), :mod:`.metadata` drops their location and
other metadata at the byte level, :mod:`.audio` checks audio for wan2.6-i2v, :mod:`.frames`
takes the last frame of a video result (for Extend), :mod:`.fetch` downloads attachments with a
byte cap and a deadline.

What it must never do: trust a filename or a declared content type, decode without bounds (of
pixels per file, of files at once), pass an image on with its metadata, or let a parser's
exception reach a member as anything but :class:`MediaRejected`.
"""

from bot.media.audio import (
    AUDIO_MAX_SECONDS,
    AUDIO_MIN_SECONDS,
    AudioFormat,
    AudioInfo,
    check_audio,
    check_audio_metadata,
)
from bot.media.errors import MediaRejected, megabytes
from bot.media.fetch import DOWNLOAD_TIMEOUT_SECONDS, download
from bot.media.frames import MAX_VIDEO_BYTES, LastFrame, last_frame, last_frame_async
from bot.media.images import (
    ACCEPTED_FORMATS,
    JPEG_QUALITIES,
    MAX_CONCURRENT_DECODES,
    MAX_DECODED_BYTES,
    MAX_INPUT_DOWNLOAD_BYTES,
    MAX_SOURCE_PIXELS,
    PreparedImage,
    prepare_image,
    prepare_image_async,
)
from bot.media.metadata import MetadataError, strip_metadata

__all__ = [
    "ACCEPTED_FORMATS",
    "AUDIO_MAX_SECONDS",
    "AUDIO_MIN_SECONDS",
    "DOWNLOAD_TIMEOUT_SECONDS",
    "JPEG_QUALITIES",
    "MAX_CONCURRENT_DECODES",
    "MAX_DECODED_BYTES",
    "MAX_INPUT_DOWNLOAD_BYTES",
    "MAX_SOURCE_PIXELS",
    "MAX_VIDEO_BYTES",
    "AudioFormat",
    "AudioInfo",
    "LastFrame",
    "MediaRejected",
    "MetadataError",
    "PreparedImage",
    "check_audio",
    "check_audio_metadata",
    "download",
    "last_frame",
    "last_frame_async",
    "megabytes",
    "prepare_image",
    "prepare_image_async",
    "strip_metadata",
]
