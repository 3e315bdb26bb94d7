"""check_audio on real WAV files (stdlib ``wave``) and a committed MP3 made with ffmpeg."""

from __future__ import annotations

import io
import math
import os
import struct
import wave
from pathlib import Path

import pytest

from bot.media import AudioInfo, MediaRejected, check_audio, check_audio_metadata

MP3_FIXTURE = Path(__file__).parent.parent / "fixtures" / "voice-5s.mp3"
"""5.08 s of a 440 Hz sine, mono 16 kHz at 8 kbit/s, with an ID3v2 tag and a Xing/Info frame:
``ffmpeg -f lavfi -i sine=frequency=440:duration=5:sample_rate=16000 -ac 1 -b:a 8k
-map_metadata -1 -fflags +bitexact -flags:a +bitexact voice-5s.mp3``."""


def wav(seconds: float, *, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    frames = round(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(frames * channels * width))
    return buffer.getvalue()


def sine_wav(seconds: float, rate: int = 8000) -> bytes:
    samples = (
        round(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(round(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def refusal(data: bytes, name: str = "voice") -> str:
    with pytest.raises(MediaRejected) as info:
        check_audio(data, name=name)
    return str(info.value)


def test_a_five_second_wav_is_accepted() -> None:
    data = sine_wav(5)
    assert check_audio(data, name="voice.wav") == AudioInfo("wav", 5.0, len(data))


@pytest.mark.parametrize("seconds", [3, 30])
def test_the_limits_themselves_are_allowed(seconds: int) -> None:
    assert check_audio(wav(seconds)).duration_seconds == seconds


def test_stereo_24_bit_wav_is_measured_right() -> None:
    assert check_audio(wav(4, rate=48000, channels=2, width=3)).duration_seconds == 4.0


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1, "1.0"), (2.98, "2.9"), (40, "40.0"), (30.01, "30.1")],
)
def test_too_short_or_too_long_is_refused(seconds: float, shown: str) -> None:
    assert refusal(wav(seconds), "voice.wav") == (
        f"voice.wav is {shown} s long; audio must be 3 to 30 seconds. Trim or replace it."
    )


def test_the_mp3_fixture_is_accepted() -> None:
    data = MP3_FIXTURE.read_bytes()
    info = check_audio(data, name="voice.mp3")
    assert (info.format, info.byte_size) == ("mp3", len(data))
    assert 5.0 <= info.duration_seconds <= 5.2


def test_an_mp3_without_an_id3_tag_is_found_by_its_frame_sync() -> None:
    data = MP3_FIXTURE.read_bytes()
    assert data[:3] == b"ID3"
    size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]  # ID3v2 syncsafe size
    frames = data[10 + size :]
    assert frames[0] == 0xFF
    assert check_audio(frames).format == "mp3"


def test_an_id3_tag_with_nothing_after_it_is_damaged() -> None:
    data = MP3_FIXTURE.read_bytes()[:40]
    assert refusal(data, "voice.mp3") == (
        "voice.mp3 looks like MP3 but is damaged or incomplete. "
        "Export it again and attach the new file."
    )


def test_an_ogg_file_is_refused_by_name() -> None:
    data = b"OggS\x00\x02" + os.urandom(2000)
    assert refusal(data, "voice.mp3") == (
        "voice.mp3 isn't WAV or MP3 (it looks like an Ogg (Opus or Vorbis) file). Convert it to "
        "WAV or MP3 and attach it again."
    )


def test_random_bytes_are_refused() -> None:
    data = b"\x00" + os.urandom(4000)
    assert refusal(data, "voice.wav") == (
        "voice.wav isn't WAV or MP3. Convert it to WAV or MP3 and attach it again."
    )


def test_a_wav_cut_off_mid_transfer_is_damaged() -> None:
    data = wav(10)[:8000]  # the header still promises 10 s
    assert "looks like WAV but is damaged or incomplete" in refusal(data)


def test_a_riff_without_a_format_chunk_is_damaged() -> None:
    junk_chunk = b"junk" + struct.pack("<I", 4) + b"1234"
    data = b"RIFF" + struct.pack("<I", 4 + len(junk_chunk)) + b"WAVE" + junk_chunk
    assert "looks like WAV but is damaged" in refusal(data)


def test_empty_and_oversize_files_are_refused() -> None:
    assert refusal(b"", "a.wav") == "a.wav is empty (0 bytes). Attach the audio again."
    message = refusal(b"RIFF" + bytes(15 * 1024 * 1024), "a.wav")
    assert message == (
        "a.wav is 15.00 MB; audio can be at most 15 MB. Use a shorter or smaller file."
    )


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "audio/mpeg",
        "audio/x-wav",
        "audio/wav; charset=binary",
        "Audio/MP3",
        "application/octet-stream",
    ],
)
def test_metadata_that_may_be_wav_or_mp3_passes(content_type: str | None) -> None:
    check_audio_metadata(name="a", size=1000, content_type=content_type)
    check_audio_metadata(name="a", size=None, content_type=content_type)


@pytest.mark.parametrize("content_type", ["audio/ogg", "video/mp4", "image/png", "text/plain"])
def test_metadata_of_another_type_is_refused(content_type: str) -> None:
    with pytest.raises(MediaRejected, match=f"^clip is {content_type}, not WAV or MP3 audio"):
        check_audio_metadata(name="clip", size=1000, content_type=content_type)


def test_metadata_over_the_size_limit_is_refused() -> None:
    with pytest.raises(MediaRejected, match=r"^clip is 20 MB; audio can be at most 15 MB"):
        check_audio_metadata(name="clip", size=20 * 1024 * 1024, content_type="audio/mpeg")
