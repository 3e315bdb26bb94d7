"""Check a member's audio file for wan2.6-i2v's ``audio_url``: WAV or MP3, 3 to 30 s, ≤ 15 MB.

Why this module exists: the provider fetches the audio itself and fails the task (after the member
waited) when the file is the wrong type or length. Measuring it here turns that into an immediate
refusal that says what to change.

What it must never do: trust the filename or a declared content type (the type comes from the
bytes; the declared type only allows a cheap refusal before downloading), or let a parser error
escape as anything but :class:`MediaRejected`. Nothing here decodes audio samples: mutagen reads
headers only.
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
    (0, b"OggS", "an Ogg (Opus or Vorbis) file"),
    (0, b"fLaC", "a FLAC file"),
    (4, b"ftyp", "an M4A or MP4 file"),
    (0, b"\x1aE\xdf\xa3", "a WebM or MKV file"),
    (0, b"FORM", "an AIFF file"),
    (0, b"#!AMR", "an AMR voice memo"),
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
                f"{name} is {declared}, not WAV or MP3 audio. Convert it to WAV "
                "or MP3 and attach it again."
            )


def check_audio(data: bytes, *, name: str = "audio") -> AudioInfo:
    """Identify ``data`` as WAV or MP3 from its bytes and check its size and duration."""
    if not data:
        raise MediaRejected(f"{name} is empty (0 bytes). Attach the audio again.")
    if len(data) > MAX_AUDIO_BYTES:
        raise _too_big(name, len(data))
    kind = _sniff(data)
    if kind is None:
        other = next(
            (
                label
                for offset, magic, label in _KNOWN_OTHER_AUDIO
                if data[offset : offset + len(magic)] == magic
            ),
            None,
        )
        what = f" (it looks like {other})" if other else ""
        raise MediaRejected(
            f"{name} isn't WAV or MP3{what}. Convert it to WAV or MP3 and attach it again."
        )
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
        f"{name} is {shown:.1f} s long; audio must be {AUDIO_MIN_SECONDS:g} to "
        f"{AUDIO_MAX_SECONDS:g} seconds. Trim or replace it."
    )


def _too_big(name: str, size: int) -> MediaRejected:
    return MediaRejected(
        f"{name} is {megabytes(size)}; audio can be at most "
        f"{megabytes(MAX_AUDIO_BYTES)}. Use a shorter or smaller file."
    )


def _damaged(name: str, kind: AudioFormat) -> MediaRejected:
    return MediaRejected(
        f"{name} looks like {kind.upper()} but is damaged or incomplete. Export "
        "it again and attach the new file."
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
    channels: int
    sample_rate: int


class _Mp3Info(Protocol):
    length: float
    layer: int
    sketchy: bool


def _wav_seconds(data: bytes, name: str) -> float:
    info = cast(_WavInfo, WAVE(io.BytesIO(data)).info)
    if info.sample_rate <= 0 or info.channels <= 0:
        raise _damaged(name, "wav")
    if info.length * info.bitrate / 8 > len(data):
        # The header promises more samples than the file holds: cut off mid-transfer.
        raise _damaged(name, "wav")
    return float(info.length)


def _mp3_seconds(data: bytes, name: str) -> float:
    info = cast(_Mp3Info, MP3(io.BytesIO(data)).info)
    if info.layer != 3:
        raise MediaRejected(
            f"{name} is MPEG layer {info.layer} audio, not MP3. Convert it to "
            "MP3 or WAV and attach it again."
        )
    if info.sketchy:
        raise _damaged(name, "mp3")
    return float(info.length)
