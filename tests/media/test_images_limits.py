"""The memory bounds of image checks: a per-file decode budget by pixel mode, found from the
header before decoding (JPEGs decoded at a reduced scale instead when that fits), and a decode
pool that runs at most ``MAX_CONCURRENT_DECODES`` checks at once in the whole process."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import zlib
from collections.abc import Iterator

import pytest
from PIL import Image

from bot.catalog import I2I_INPUT_BOUNDS, VIDEO_INPUT_BOUNDS, ModelSpec, spec_for
from bot.config import ProviderName
from bot.media import (
    MAX_CONCURRENT_DECODES,
    MAX_DECODED_BYTES,
    MediaRejected,
    PreparedImage,
    prepare_image,
)
from bot.media import images as images_module
from bot.orders import InputImage, prepare_images

# (PNG colour type, bit depth) of each mode, and what Pillow holds a pixel of it in.
PNG_MODES = {"L": (0, 8), "I;16": (0, 16), "RGB": (2, 8), "P": (3, 8), "RGBA": (6, 8)}


def png_claiming(width: int, height: int, mode: str) -> bytes:
    """A PNG whose header (correct CRC) claims ``width`` × ``height`` of ``mode``, with a
    one-byte image stream: nothing can be decoded from it, only its header read."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    colour, depth = PNG_MODES[mode]
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    palette = chunk(b"PLTE", b"\x00\x00\x00") if mode == "P" else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + palette
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def refusal(data: bytes, bounds: object = I2I_INPUT_BOUNDS) -> str:
    with pytest.raises(MediaRejected) as info:
        prepare_image(data, bounds)  # type: ignore[arg-type]
    return info.value.user_message


@pytest.mark.parametrize(
    ("mode", "size", "over_budget"),
    [
        ("RGBA", (4096, 4096), False),  # exactly 64 MiB
        ("RGBA", (4097, 4096), True),
        ("RGBA", (7000, 7000), True),  # the 0.2 MB PNG that decodes to 187 MB
        ("RGB", (4500, 4000), True),  # Pillow pads RGB to 4 bytes a pixel
        ("P", (5000, 5000), False),  # 1 byte a pixel, sent as it is
        ("L", (5000, 5000), False),
        ("I;16", (5000, 5000), False),  # 2 bytes a pixel, sent as it is
        ("I;16", (6000, 4000), True),  # widened to be scaled down
    ],
)
def test_the_decode_budget_depends_on_the_pixel_mode(
    mode: str, size: tuple[int, int], over_budget: bool
) -> None:
    message = refusal(png_claiming(*size, mode))
    if over_budget:
        assert message.startswith(f"image is {size[0]}×{size[1]} pixels of ")
        assert "too many to decode at once" in message
        assert "resize it to at most" in message
    else:  # the budget let it through to the decoder, which found no pixels
        assert "looks damaged or incomplete" in message


def test_the_refusal_says_how_far_to_shrink() -> None:
    message = refusal(png_claiming(7000, 7000, "RGBA"))
    assert message == (
        "image is 7000×7000 pixels of colour with transparency (49.0 megapixels): too many to "
        "decode at once. In this format the most is 16.8 megapixels; resize it to at most "
        "4096×4096 (or save it as a JPEG) and attach it again."
    )
    assert MAX_DECODED_BYTES >= 4096 * 4096 * 4


def test_the_budget_is_checked_before_anything_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    assert "too many to decode" in refusal(png_claiming(7000, 7000, "RGBA"))


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_to_fit_the_budget() -> None:
    gradient = Image.linear_gradient("L").resize((4800, 4000)).convert("RGB")
    out = io.BytesIO()
    gradient.save(out, "JPEG", quality=80)
    assert MAX_DECODED_BYTES < 4800 * 4000 * 4  # too big to decode at full scale
    prepared = prepare_image(out.getvalue(), I2I_INPUT_BOUNDS, name="photo")
    assert (prepared.width, prepared.height) == (2400, 2000)
    assert prepared.notes == (
        "Scaled down from 4800×4000 to 2400×2000 to stay within what this bot decodes at once.",
    )


def test_a_jpeg_scaled_for_the_models_limit_uses_the_reduced_decode_too() -> None:
    gradient = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    out = io.BytesIO()
    gradient.save(out, "JPEG", quality=80)
    prepared = prepare_image(out.getvalue(), VIDEO_INPUT_BOUNDS)
    assert (prepared.width, prepared.height) == (2000, 1500)
    assert prepared.notes == (
        "Scaled down from 4000×3000 to 2000×1500 to fit the 2000-pixel limit.",
    )


# --- the decode pool --------------------------------------------------------------------------


class Gate:
    """A stand-in for ``prepare_image`` that counts how many run at once and waits to be let go."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.entered = 0
        self.all_slots_taken = threading.Event()
        self.go = threading.Semaphore(0)

    def __call__(self, data: bytes, bounds: object, **_: object) -> PreparedImage:
        with self.lock:
            self.active += 1
            self.entered += 1
            self.most = max(self.most, self.active)
            if self.active == MAX_CONCURRENT_DECODES:
                self.all_slots_taken.set()
        self.go.acquire()
        with self.lock:
            self.active -= 1
        return PreparedImage(data, "image/png", 400, 400)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    monkeypatch.setattr(images_module, "prepare_image", gate)
    yield gate
    for _ in range(64):  # never leave a pool thread waiting
        gate.go.release()


async def test_at_most_the_pool_size_of_images_are_checked_at_once(gate: Gate) -> None:
    assert MAX_CONCURRENT_DECODES == 2
    spec: ModelSpec = spec_for("wan2.5-i2i-preview", ProviderName.MULEROUTER)
    members = 6
    orders = [
        asyncio.create_task(prepare_images(spec, {"images": [InputImage(f"m{i}", b"x")]}))
        for i in range(members)
    ]
    await asyncio.to_thread(gate.all_slots_taken.wait)
    # Both slots are held and nothing is let go: no other check may start meanwhile, whatever
    # the default executor's size. Release one at a time and watch the count.
    for released in range(members):
        assert gate.entered <= MAX_CONCURRENT_DECODES + released
        gate.go.release()
    done = await asyncio.gather(*orders)
    assert [len(found) for found in done] == [1] * members
    assert gate.most == MAX_CONCURRENT_DECODES
    assert gate.entered == members
