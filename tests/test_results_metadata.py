"""Image results the bot downloads lose their metadata (losslessly) before they are posted."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import ExifTags, Image

from bot.results import drop_image_metadata


def test_a_downloaded_image_loses_its_exif_and_keeps_its_pixels(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Software] = "generator 1.0 on host-42"
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(out, "PNG", exif=exif)
    path = tmp_path / "result-1.png"
    path.write_bytes(out.getvalue())
    assert drop_image_metadata(path) is True
    data = path.read_bytes()
    assert b"host-42" not in data
    assert b"eXIf" not in data
    with Image.open(path) as img:
        assert img.getpixel((3, 3)) == (0, 128, 0)
    assert drop_image_metadata(path) is False  # nothing left to drop: not rewritten


def test_other_results_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "result-1.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16)
    assert drop_image_metadata(path) is False
