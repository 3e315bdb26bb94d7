"""last_frame on the simulator's real H.264 MP4: the frame it returns is the clip's last one,
pixel for pixel; cut, garbled and foreign bytes are refused in words, never with a PyAV error."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import av
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import bot.simulator
from bot.catalog import VIDEO_INPUT_BOUNDS, PixelBounds
from bot.media import MediaRejected, frames, prepare_image
from bot.media.frames import MAX_VIDEO_BYTES, last_frame, last_frame_async

SAMPLE = (Path(bot.simulator.__file__).parent / "assets" / "sample.mp4").read_bytes()


def every_frame(data: bytes) -> list[Image.Image]:
    """Every frame of ``data`` in presentation order, decoded plainly from the start."""
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    frames.sort(key=lambda frame: frame.pts)
    return [frame.to_image() for frame in frames]


def as_sent(frame: Image.Image) -> Image.Image:
    """A 320×180 frame as an i2v input must be: at least 360 pixels a side (Lanczos, 2×)."""
    return frame.resize((640, 360), Image.Resampling.LANCZOS)


def pixels(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        return img.convert("RGB").tobytes()


def test_the_frame_is_the_clips_last_one_pixel_for_pixel() -> None:
    frames = every_frame(SAMPLE)
    assert len(frames) == 30  # 2 s at 15 fps

    got = last_frame(SAMPLE)

    assert (got.width, got.height, got.source_width, got.source_height) == (640, 360, 320, 180)
    assert got.seconds == pytest.approx(29 / 15)
    assert pixels(got.png) == as_sent(frames[-1]).tobytes()
    # ...and not any other frame (the sample moves, so this can fail).
    assert all(pixels(got.png) != as_sent(frame).tobytes() for frame in frames[:-1])


def test_a_frame_within_the_bounds_is_sent_at_its_own_size() -> None:
    got = last_frame(SAMPLE, bounds=PixelBounds(100, 2000))
    assert (got.width, got.height) == (320, 180)
    assert pixels(got.png) == every_frame(SAMPLE)[-1].tobytes()


def test_the_frame_passes_the_i2v_image_checks_untouched() -> None:
    got = last_frame(SAMPLE)
    prepared = prepare_image(got.png, VIDEO_INPUT_BOUNDS, name="last-frame.png")
    assert prepared.notes == ()  # nothing repaired: the model gets these exact pixels
    assert pixels(prepared.raw) == pixels(got.png)


async def test_the_async_form_decodes_on_the_image_checks_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []

    def recording(data: bytes, **kwargs: object) -> frames.LastFrame:
        threads.append(threading.current_thread().name)
        return real(data, **kwargs)  # type: ignore[arg-type]

    real = frames.last_frame
    monkeypatch.setattr(frames, "last_frame", recording)
    got = await last_frame_async(SAMPLE)
    assert pixels(got.png) == pixels(real(SAMPLE).png)
    assert len(threads) == 1
    assert threads[0].startswith("image-check")  # bot.media.images.DECODE_POOL


@pytest.mark.parametrize("cut", [0, 10, 100, 900, 2000, len(SAMPLE) // 2, len(SAMPLE) - 1])
def test_a_cut_short_file_is_refused_not_answered_with_an_earlier_frame(cut: int) -> None:
    with pytest.raises(MediaRejected) as refused:
        last_frame(SAMPLE[:cut], name="The video of job #7")
    assert refused.value.user_message.startswith("The video of job #7 ")
    assert "Traceback" not in refused.value.user_message


@pytest.mark.parametrize(
    "data",
    [
        b"not a video at all",
        os.urandom(5000),
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://127.0.0.1:1/x.ts\n",  # a playlist: never followed
    ],
)
def test_bytes_that_are_no_mp4_are_refused(data: bytes) -> None:
    with pytest.raises(MediaRejected, match=r"damaged or incomplete|no video track"):
        last_frame(data)


def test_an_oversized_file_is_refused_before_decoding() -> None:
    with pytest.raises(MediaRejected, match="can be extended"):
        last_frame(SAMPLE + b"\x00" * (MAX_VIDEO_BYTES + 1 - len(SAMPLE)))


def test_a_frame_too_long_and_narrow_for_the_model_is_refused() -> None:
    with pytest.raises(MediaRejected, match="too long and narrow"):
        last_frame(SAMPLE, bounds=PixelBounds(360, 500))  # 16:9 from 180 px: 640 > 500


def frame_or_refusal(data: bytes) -> frames.LastFrame | None:
    """The property: a frame, or a refusal in words (any other exception fails the test)."""
    try:
        return last_frame(data)
    except MediaRejected as exc:
        refused = exc
    assert refused.user_message
    assert "Error" not in refused.user_message  # no library internals
    return None


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_give_a_frame_or_a_refusal(data: bytes) -> None:
    got = frame_or_refusal(data)
    if got is not None:
        assert got.png.startswith(b"\x89PNG")


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=30
    )
)
def test_a_garbled_sample_gives_a_frame_or_a_refusal(edits: list[tuple[int, int]]) -> None:
    data = bytearray(SAMPLE)
    for position, value in edits:
        data[position] = value
    got = frame_or_refusal(bytes(data))
    if got is not None:
        assert (got.width, got.height) == (640, 360)
