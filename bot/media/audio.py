"""Check a member's audio file for wan2.6-i2v's ``audio_url``: WAV or MP3, 3 to 30 s, ≤ 15 MB.

Why this module exists: the provider fetches the audio itself and fails the task (after the member
waited) when the file is the wrong type or length. Measuring it here turns that into an immediate
refusal that says what to change.

What it must never do: trust the filename or a declared content type (the type comes from the
bytes; the declared type only allows a cheap refusal before downloading), take a video or an
image for audio (the refusal says which it is), or let a parser error escape as anything but
:class:`MediaRejected`. Nothing here decodes audio samples: mutagen reads headers only.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from mutagen import MutagenError
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

from bot.catalog import MAX_AUDIO_BYTES
from bot.i18n import N_, _
from bot.media.errors import MediaRejected, megabytes

AUDIO_MIN_SECONDS = 3.0
AUDIO_MAX_SECONDS = 30.0

AudioFormat = Literal["wav", "mp3"]

# Declared types that may hold WAV or MP3. "octet-stream" is what many uploaders send for
# anything, so it is let through to the byte check rather than refused.
_AUDIO_CONTENT_TYPES = frozenset(
    {
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/vnd.wave",
        "audio/x-pn-wav",
        "audio/mpeg",
        "audio/mp3",
        "audio/x-mp3",
        "audio/mpeg3",
        "audio/x-mpeg",
        "audio/x-mpeg-3",
        "application/octet-stream",
        "binary/octet-stream",
    }
)
_KNOWN_OTHER_AUDIO: tuple[tuple[int, bytes, str], ...] = (
    (0, b"OggS", N_("an Ogg (Opus or Vorbis) file")),
    (0, b"fLaC", N_("a FLAC file")),
    (0, b"FORM", N_("an AIFF file")),
    (0, b"#!AMR", N_("an AMR voice memo")),
)
# ISO base media files (``....ftyp<brand>``) are audio, images or video by their major brand.
_FTYP_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_FTYP_IMAGE_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}
# QuickTime files without an ``ftyp`` box start straight with one of these atoms.
_MOV_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_VIDEO_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"FLV\x01", "FLV"),
    (0, b"\x00\x00\x01\xba", "MPEG"),
    (0, b"\x00\x00\x01\xb3", "MPEG"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMV or ASF"),
)
_IMAGE_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
)
_PARSE_ERRORS = (MutagenError, OSError, ValueError, EOFError, struct.error)


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What :func:`check_audio` measured in a file it accepted."""

    format: AudioFormat
    duration_seconds: float
    byte_size: int


def check_audio_metadata(*, name: str, size: int | None, content_type: str | None) -> None:
    """Refuse before downloading when the declared size or type already rules the file out.

    Passing says nothing about the bytes: :func:`check_audio` must still run on them.
    """
    if size is not None and size > MAX_AUDIO_BYTES:
        raise _too_big(name, size)
    if content_type:
        declared = content_type.split(";", 1)[0].strip().lower()
        if declared and declared not in _AUDIO_CONTENT_TYPES:
            raise MediaRejected(
                _(
                    "{file} is {type}, not WAV or MP3 audio. Convert it to WAV or MP3 and attach "
                    "it again."
                ).format(file=name, type=declared)
            )


def check_audio(data: bytes, *, name: str = "audio") -> AudioInfo:
    """Identify ``data`` as WAV or MP3 from its bytes and check its size and duration."""
    if not data:
        raise MediaRejected(
            _("{file} is empty (0 bytes). Attach the audio again.").format(file=name)
        )
    if len(data) > MAX_AUDIO_BYTES:
        raise _too_big(name, len(data))
    kind = _sniff(data)
    if kind is None:
        raise _not_wav_or_mp3(data, name)
    try:
        duration = _wav_seconds(data, name) if kind == "wav" else _mp3_seconds(data, name)
    except _PARSE_ERRORS as exc:
        raise _damaged(name, kind) from exc
    if duration < AUDIO_MIN_SECONDS:
        # Rounded away from the limit, so "2.98 s" never reads as an allowed "3.0 s".
        shown = math.floor(duration * 10) / 10
    elif duration > AUDIO_MAX_SECONDS:
        shown = math.ceil(duration * 10) / 10
    else:
        return AudioInfo(kind, duration, len(data))
    raise MediaRejected(
        _(
            "{file} is {length} s long; audio must be {low} to {high} seconds. Trim or replace it."
        ).format(
            file=name,
            length=f"{shown:.1f}",
            low=f"{AUDIO_MIN_SECONDS:g}",
            high=f"{AUDIO_MAX_SECONDS:g}",
        )
    )


def _too_big(name: str, size: int) -> MediaRejected:
    return MediaRejected(
        _("{file} is {size}; audio can be at most {limit}. Use a shorter or smaller file.").format(
            file=name, size=megabytes(size), limit=megabytes(MAX_AUDIO_BYTES)
        )
    )


def _not_wav_or_mp3(data: bytes, name: str) -> MediaRejected:
    """The refusal of a file that is not WAV or MP3, naming what it is when the bytes say:
    a member who attached a screen recording or a photo should hear that, not "convert it"."""
    video = _video_kind(data)
    if video is not None:
        return MediaRejected(
            _("{file} is a video ({kind}), not audio: {instead}").format(
                file=name, kind=video, instead=_attach_instead()
            )
        )
    image = _image_kind(data)
    if image is not None:
        return MediaRejected(
            _("{file} is an image ({kind}), not audio: {instead}").format(
                file=name, kind=image, instead=_attach_instead()
            )
        )
    other = _first_match(data, _KNOWN_OTHER_AUDIO)
    if other is None and data[4:8] == b"ftyp" and data[8:12] in _FTYP_AUDIO_BRANDS:
        other = N_("an M4A (AAC) file")
    if other:
        text = _(
            "{file} isn't WAV or MP3 (it looks like {kind}). Convert it to WAV or MP3 and attach "
            "it again."
        )
    else:
        text = _("{file} isn't WAV or MP3. Convert it to WAV or MP3 and attach it again.")
    return MediaRejected(text.format(file=name, kind=_(other)))


def _attach_instead() -> str:
    return _("attach a WAV or MP3 file of {low} to {high} seconds instead.").format(
        low=f"{AUDIO_MIN_SECONDS:g}", high=f"{AUDIO_MAX_SECONDS:g}"
    )


def _first_match(data: bytes, table: tuple[tuple[int, bytes, str], ...]) -> str | None:
    return next(
        (label for offset, magic, label in table if data[offset : offset + len(magic)] == magic),
        None,
    )


def _video_kind(data: bytes) -> str | None:
    """The container a video file is in, from its first bytes (``None``: not a video)."""
    box = data[4:8]
    if box == b"ftyp":
        brand = data[8:12]
        if brand in _FTYP_AUDIO_BRANDS or brand in _FTYP_IMAGE_BRANDS:
            return None
        return "QuickTime MOV" if brand == b"qt  " else "MP4"
    if box in _MOV_ATOMS:
        return "MOV"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        # An EBML header names its DocType near the start: "webm" or "matroska" (MKV).
        return "WebM" if b"webm" in data[:64] else "MKV"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "AVI"
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:
        return "MPEG-TS"  # transport stream packets: 188 bytes, each starting with "G"
    return _first_match(data, _VIDEO_MAGIC)


def _image_kind(data: bytes) -> str | None:
    """The format an image file is in, from its first bytes (``None``: not an image)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in _FTYP_IMAGE_BRANDS:
        return _FTYP_IMAGE_BRANDS[data[8:12]]
    return _first_match(data, _IMAGE_MAGIC)


def _damaged(name: str, kind: AudioFormat) -> MediaRejected:
    return MediaRejected(
        _(
            "{file} looks like {kind} but is damaged or incomplete. Export it again and attach "
            "the new file."
        ).format(file=name, kind=kind.upper())
    )


def _sniff(data: bytes) -> AudioFormat | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or _is_mpeg_layer3_sync(data[:2]):
        return "mp3"
    return None


def _is_mpeg_layer3_sync(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a valid version, layer III."""
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    return version != 0b01 and layer == 0b01


# mutagen is unannotated where it matters: ``FileType.info = None`` makes mypy infer ``None`` for
# ``.info``, although a successful load always sets it (a failed one raises MutagenError), and
# ``MPEGInfo`` sets its fields in a decorated ``__init__`` mypy cannot see into. These protocols
# state the fields read here, with the types mutagen documents for WaveStreamInfo and MPEGInfo.
class _WavInfo(Protocol):
    length: float
    bitrate: int
    bits_per_sample: int
    channels: int
    sample_rate: int


class _Mp3Info(Protocol):
    length: float
    layer: int
    sketchy: bool


def _wav_seconds(data: bytes, name: str) -> float:
    info = cast(_WavInfo, WAVE(io.BytesIO(data)).info)
    if info.sample_rate <= 0 or info.channels <= 0 or info.bits_per_sample <= 0:
        raise _damaged(name, "wav")
    if info.length * info.bitrate / 8 > len(data):
        # The header promises more samples than the file holds: cut off mid-transfer.
        raise _damaged(name, "wav")
    return float(info.length)


def _mp3_seconds(data: bytes, name: str) -> float:
    info = cast(_Mp3Info, MP3(io.BytesIO(data)).info)
    if info.layer != 3:
        raise MediaRejected(
            _(
                "{file} is MPEG layer {layer} audio, not MP3. Convert it to MP3 or WAV and attach "
                "it again."
            ).format(file=name, layer=info.layer)
        )
    if info.sketchy:
        raise _damaged(name, "mp3")
    return float(info.length)
