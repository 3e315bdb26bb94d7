"""Result files the simulator serves: one real MP4 for every video, rendered PNGs for images.

Why this module exists: clients download, check and attach results, so results must be real
files. The MP4 is shipped as package data (it was made once with ffmpeg; nothing here runs
ffmpeg). PNGs are rendered on request, deterministically from the task id and index, and only a
few recent ones are cached, so 10,000 finished tasks cost no memory.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from functools import cache, lru_cache
from importlib.resources import files

from PIL import Image, ImageDraw, ImageFont


@cache
def sample_mp4() -> bytes:
    """A 2 s, 320x180 H.264 MP4 (``bot/simulator/assets/sample.mp4``)."""
    return files("bot.simulator").joinpath("assets/sample.mp4").read_bytes()


@lru_cache(maxsize=32)
def render_png(task_id: str, index: int, width: int, height: int) -> bytes:
    """Image ``index`` of a task: a colour and a label of its own, at ``width`` x ``height``."""
    digest = hashlib.sha256(f"{task_id}:{index}".encode()).digest()
    hue = (digest[0] / 255 + index * 0.29) % 1.0
    background = _rgb(hue, 0.55, 0.85)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    inset = min(width, height) // 8
    draw.rectangle(
        (inset, inset, width - inset, height - inset),
        outline=_rgb(hue, 0.9, 0.3),
        width=max(2, inset // 8),
    )
    font = ImageFont.load_default(size=max(12, min(width, height) // 5))
    draw.text(
        (width / 2, height / 2),
        f"#{index + 1}",
        fill=(255, 255, 255),
        font=font,
        anchor="mm",
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    small = ImageFont.load_default(size=max(10, min(width, height) // 24))
    draw.text((width / 2, height - inset / 2), task_id[:8], fill=(0, 0, 0), font=small, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)
