"""Property tests of check_audio: whatever bytes a member attaches, the answer is a measured
WAV or MP3 within the limits, or a MediaRejected saying what to change; never another exception.

Inputs: arbitrary bytes, bytes behind each signature the sniffer knows (RIFF/WAVE, ID3, an MPEG
frame sync, video and image headers), and every cut and one-byte corruption of a real WAV and
of the committed MP3. Bounded and deterministic: fixed example counts, derandomized, no database.
"""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.media import AUDIO_MAX_SECONDS, AUDIO_MIN_SECONDS, AudioInfo, MediaRejected, check_audio

BOUNDED = settings(max_examples=300, deadline=None, derandomize=True, database=None)
MP3 = (Path(__file__).parent.parent / "fixtures" / "voice-5s.mp3").read_bytes()


def wav(seconds: float, *, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(round(seconds * rate) * channels * width))
    return buffer.getvalue()


WAV = wav(5)
SIGNATURES = [
    b"RIFF" + struct.pack("<I", 36) + b"WAVE",
    b"RIFF\xff\xff\xff\xffWAVEfmt ",
    b"ID3\x04\x00\x00",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\xff\xe3",
    b"\x00\x00\x00\x18ftypisom",
    b"\x00\x00\x00\x18ftypM4A ",
    b"\x1a\x45\xdf\xa3",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"OggS",
    b"fLaC",
]


def assert_sane(data: bytes) -> None:
    try:
        info = check_audio(data, name="voice")
    except MediaRejected as exc:
        message = exc.user_message
        assert message.startswith("voice ")
        assert len(message) < 300
        assert "\x00" not in message
        return
    assert isinstance(info, AudioInfo)
    assert info.format in ("wav", "mp3")
    assert AUDIO_MIN_SECONDS <= info.duration_seconds <= AUDIO_MAX_SECONDS
    assert info.byte_size == len(data)


@BOUNDED
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_are_measured_or_refused(data: bytes) -> None:
    assert_sane(data)


@BOUNDED
@given(head=st.sampled_from(SIGNATURES), rest=st.binary(max_size=4096))
def test_bytes_behind_a_known_signature_are_measured_or_refused(head: bytes, rest: bytes) -> None:
    assert_sane(head + rest)


@BOUNDED
@given(whole=st.sampled_from([WAV, MP3]), data=st.data())
def test_truncated_files_are_measured_or_refused(whole: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(whole) - 1))
    assert_sane(whole[:cut])


@BOUNDED
@given(whole=st.sampled_from([WAV, MP3]), data=st.data())
def test_corrupted_headers_are_measured_or_refused(whole: bytes, data: st.DataObject) -> None:
    spot = data.draw(st.integers(min_value=0, max_value=min(len(whole), 600) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255))
    corrupted = whole[:spot] + bytes([value]) + whole[spot + 1 :]
    assert_sane(corrupted)


VIDEO_HEADS = [
    b"\x00\x00\x00\x18ftypisom",
    b"\x00\x00\x00\x14ftypqt  ",
    b"\x00\x00\x00\x08moov",
    b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm",
    b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska",
    b"RIFF\x00\x10\x00\x00AVI ",
]
IMAGE_HEADS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF87a",
    b"GIF89a",
    b"RIFF\x00\x10\x00\x00WEBP",
]


@BOUNDED
@given(head=st.sampled_from(VIDEO_HEADS + IMAGE_HEADS), rest=st.binary(max_size=2048))
def test_a_video_or_an_image_is_never_taken_for_audio(head: bytes, rest: bytes) -> None:
    with pytest.raises(MediaRejected) as refused:
        check_audio(head + rest, name="voice.mp3")
    what = "a video" if head in VIDEO_HEADS else "an image"
    assert refused.value.user_message.startswith(f"voice.mp3 is {what} (")
    assert "not audio: attach a WAV or MP3 file" in refused.value.user_message
