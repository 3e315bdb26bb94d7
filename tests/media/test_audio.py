"""check_audio on real WAV files (stdlib ``wave``) and a committed MP3 made with ffmpeg."""

from __future__ import annotations

import io
import math
import os
import random
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


# --- files that are really a video or an image, whatever their name -------------------------


NOISE = random.Random(7).randbytes(200)


def ebml(doc_type: bytes) -> bytes:
    """The start of a Matroska/WebM file: an EBML header naming its DocType."""
    body = b"\x42\x82" + bytes([0x80 | len(doc_type)]) + doc_type
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + NOISE


def ftyp(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"mp41"


def riff(form: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 1000) + form + NOISE


def picture(kind: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, format=kind)
    return out.getvalue()


VIDEO = "is a video ({}), not audio: attach a WAV or MP3 file of 3 to 30 seconds instead."
IMAGE = "is an image ({}), not audio: attach a WAV or MP3 file of 3 to 30 seconds instead."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ftyp(b"isom"), VIDEO.format("MP4")),
        (ftyp(b"mp42"), VIDEO.format("MP4")),
        (ftyp(b"qt  "), VIDEO.format("QuickTime MOV")),
        (struct.pack(">I", 8) + b"wide" + struct.pack(">I", 100) + b"mdat", VIDEO.format("MOV")),
        (struct.pack(">I", 100) + b"moov" + NOISE[:100], VIDEO.format("MOV")),
        (ebml(b"webm"), VIDEO.format("WebM")),
        (ebml(b"matroska"), VIDEO.format("MKV")),
        (riff(b"AVI "), VIDEO.format("AVI")),
        (b"\x00\x00\x01\xba" + NOISE, VIDEO.format("MPEG")),
        (b"G" + bytes(187) + b"G" + bytes(187) + b"G" + bytes(187), VIDEO.format("MPEG-TS")),
        (b"FLV\x01\x05" + bytes(100), VIDEO.format("FLV")),
        (picture("PNG"), IMAGE.format("PNG")),
        (picture("JPEG"), IMAGE.format("JPEG")),
        (picture("GIF"), IMAGE.format("GIF")),
        (picture("WEBP"), IMAGE.format("WebP")),
        (picture("BMP"), IMAGE.format("BMP")),
        (picture("TIFF"), IMAGE.format("TIFF")),
        (ftyp(b"heic"), IMAGE.format("HEIC")),
        (ftyp(b"avif"), IMAGE.format("AVIF")),
    ],
    ids=lambda value: value.split("(")[1].split(")")[0] if isinstance(value, str) else "",
)
def test_a_video_or_an_image_sent_as_audio_says_what_it_is(data: bytes, expected: str) -> None:
    assert refusal(data, "voice.mp3") == f"voice.mp3 {expected}"


def test_an_m4a_is_audio_of_the_wrong_format_not_a_video() -> None:
    assert refusal(ftyp(b"M4A "), "voice.mp3") == (
        "voice.mp3 isn't WAV or MP3 (it looks like an M4A (AAC) file). Convert it to WAV or MP3 "
        "and attach it again."
    )


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF",
        b"RIFF\x00\x00\x00\x00WAVE",
        b"RIFF\xff\xff\xff\xffWAVEfmt ",
        b"ID3",
        b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f",
        b"\xff\xfb",
        b"\xff\xfb\x90\x00" + bytes(100),
    ],
)
def test_truncated_headers_are_refused_not_crashing(data: bytes) -> None:
    message = refusal(data, "voice")
    assert message.startswith("voice ")
    assert "attach" in message.lower()


def test_truncated_copies_of_good_files_are_refused_or_measured() -> None:
    whole_wav = wav(5)
    whole_mp3 = MP3_FIXTURE.read_bytes()
    for whole in (whole_wav, whole_mp3):
        for cut in (1, 4, 11, 12, 40, 44, 100, len(whole) // 2, len(whole) - 1):
            try:
                info = check_audio(whole[:cut], name="voice")
            except MediaRejected:
                continue
            assert 3 <= info.duration_seconds <= 30


def test_a_wav_with_a_zero_sample_width_is_damaged() -> None:
    data = bytearray(wav(5))
    data[34:36] = struct.pack("<H", 0)  # bits per sample
    assert "looks like WAV but is damaged or incomplete" in refusal(bytes(data))


def test_a_wav_that_holds_no_samples_is_refused() -> None:
    assert "is 0.0 s long" in refusal(wav(0))
