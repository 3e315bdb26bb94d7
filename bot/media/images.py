"""Turn an untrusted image file into a checked ``data:`` URI for a Wan model, or refuse it.

Why this module exists: members attach whatever their phone or browser produced (sideways photos,
transparent PNGs, 48-megapixel JPEGs, GIFs named ``.png``). The upstream models take JPEG, PNG,
BMP or WEBP, within a pixel range and 10 MB, without transparency, and answer anything else with a
failed task. Here a file is either repaired the way a member would expect (rotated upright,
flattened onto white, scaled down, re-compressed; each repair noted in their words) or refused
with a reason and what to change.

What it must never do:

- trust the filename or a declared content type: the format comes from the bytes;
- decode pixels before the file size and the header's width × height are known to be bounded
  (a few kilobytes can claim billions of pixels);
- let a Pillow exception escape: every failure is a :class:`MediaRejected`;
- keep metadata (GPS position, camera serial) in a file it re-encodes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import struct
from dataclasses import dataclass, field
from functools import cached_property

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from bot.catalog import MAX_INPUT_IMAGE_BYTES, PixelBounds
from bot.media.errors import MIB, MediaRejected, megabytes

MAX_INPUT_DOWNLOAD_BYTES = 25 * MIB
"""The largest file looked at at all (Discord's own attachment limit for most members)."""

MAX_SOURCE_PIXELS = 50_000_000
"""The most pixels decoded from one file: a 48-50 MP phone photo fits, a pixel bomb does not."""

JPEG_QUALITIES = (92, 85, 75, 65)
"""JPEG qualities tried in turn when a re-encoded image must fit under the byte limit."""

ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
_FORMAT_WORDS = "JPEG, PNG, BMP or WEBP"
_MIME = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra pictures (depth, HDR gain map) after the first
    "PNG": "image/png",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
}
_LOSSLESS_SOURCES = frozenset({"PNG", "BMP"})
# Modes the upstream decoders read as they are; anything else is converted before sending.
_PASSTHROUGH_MODES = frozenset({"1", "L", "P", "RGB", "I", "I;16"})
_ORIENTATION_TAG = ExifTags.Base.Orientation
_AXIS_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
# What Pillow raises, while decoding, on a damaged or hostile file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
# Signatures of formats members often try, to name them in the refusal.
_KNOWN_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF8", "a GIF"),
    (0, b"II*\x00", "a TIFF"),
    (0, b"MM\x00*", "a TIFF"),
    (0, b"%PDF", "a PDF"),
    (0, b"8BPS", "a Photoshop"),
    (4, b"ftypheic", "a HEIC"),
    (4, b"ftypheix", "a HEIC"),
    (4, b"ftypmif1", "a HEIF"),
    (4, b"ftypavif", "an AVIF"),
)


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for a request field: the exact bytes to send and what was done to them.

    ``raw`` is the encoded file (stored content-addressed by ``sha256``); ``notes`` lists each
    repair in a member's words, empty when the member's file is sent byte for byte.
    """

    raw: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    notes: tuple[str, ...] = ()

    @property
    def byte_size(self) -> int:
        return len(self.raw)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @cached_property
    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.raw).decode('ascii')}"


def prepare_image(
    data: bytes,
    bounds: PixelBounds,
    *,
    name: str = "image",
    max_bytes: int = MAX_INPUT_IMAGE_BYTES,
) -> PreparedImage:
    """Check ``data`` against ``bounds`` and ``max_bytes``; repair what can be, refuse the rest.

    CPU-bound and synchronous: run it with :func:`asyncio.to_thread`. ``name`` is the member's
    label for the file, used in messages. Raises :class:`MediaRejected`.
    """
    if not data:
        raise MediaRejected(f"{name} is empty (0 bytes). Attach the image again.")
    if len(data) > MAX_INPUT_DOWNLOAD_BYTES:
        raise MediaRejected(
            f"{name} is {megabytes(len(data))}; the largest file accepted is "
            f"{megabytes(MAX_INPUT_DOWNLOAD_BYTES)}. Use a smaller image."
        )
    try:
        source_format = _check_header(data, name)
        return _decode_and_fix(data, source_format, bounds, name, max_bytes)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(name) from exc
    except _DECODE_ERRORS as exc:
        raise MediaRejected(
            f"{name} looks damaged or incomplete, so it can't be read. Save or export it again "
            "and attach the new file."
        ) from exc


def _open(data: bytes, name: str) -> Image.Image:
    """Open lazily (header only), trying no decoder but the accepted formats'."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        kind = next(
            (
                label
                for offset, magic, label in _KNOWN_OTHER_FORMATS
                if data[offset : offset + len(magic)] == magic
            ),
            None,
        )
        what = f"is {kind} file" if kind else "isn't an image this bot can read"
        raise MediaRejected(
            f"{name} {what}; the models take {_FORMAT_WORDS} images. Convert it to JPEG or PNG "
            "and attach it again."
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning only raises when warnings are errors; either way the pixel count is absurd.
        raise _too_many_pixels(name) from exc


def _too_many_pixels(name: str, size: tuple[int, int] | None = None) -> MediaRejected:
    limit = f"{MAX_SOURCE_PIXELS / 1e6:.0f} megapixels"
    if size is None:
        return MediaRejected(
            f"{name} claims more than {limit}, more than this bot will "
            "process. Use a smaller image."
        )
    width, height = size
    return MediaRejected(
        f"{name} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); the most "
        f"this bot will process is {limit}. Use a smaller image."
    )


def _check_header(data: bytes, name: str) -> str:
    """Refuse animations and pixel bombs from the header alone; check chunk checksums.

    Returns the detected format. ``verify()`` reads the file without decoding pixels, and catches
    a corrupt PNG that would decode here but fail upstream.
    """
    with _open(data, name) as img:
        source_format = str(img.format)
        if source_format != "MPO" and getattr(img, "n_frames", 1) > 1:
            raise MediaRejected(
                f"{name} is animated; animated images aren't accepted. Use a "
                "still frame (a screenshot, or export one frame) instead."
            )
        width, height = img.size
        if width * height > MAX_SOURCE_PIXELS:
            raise _too_many_pixels(name, img.size)
        img.verify()
    return source_format


def _fit(size: tuple[int, int], bounds: PixelBounds, name: str) -> tuple[int, int]:
    """The size to send: ``size`` itself, or scaled down to ``bounds.max_side``; else refuse."""
    width, height = size
    if min(width, height) < bounds.min_side:
        raise MediaRejected(
            f"{name} is {width}×{height} pixels; this model needs at least {bounds.min_side} "
            "pixels on each side. Use a larger image."
        )
    longest = max(width, height)
    if longest <= bounds.max_side:
        return size
    scale = bounds.max_side / longest
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if min(target) < bounds.min_side:
        ratio = math.floor(bounds.max_side / bounds.min_side * 10) / 10
        raise MediaRejected(
            f"{name} is {width}×{height} pixels, too long and narrow: shrunk to the "
            f"{bounds.max_side}-pixel limit it would be {target[0]}×{target[1]}, under the "
            f"{bounds.min_side}-pixel minimum. Crop it so the long side is at most {ratio} times "
            "the short side."
        )
    return target


def _decode_and_fix(
    data: bytes, source_format: str, bounds: PixelBounds, name: str, max_bytes: int
) -> PreparedImage:
    notes: list[str] = []
    with _open(data, name) as img:
        orientation = img.getexif().get(_ORIENTATION_TAG, 1)
        if orientation not in range(2, 9):
            orientation = 1
        width, height = img.size
        if orientation in _AXIS_SWAPPING_ORIENTATIONS:
            width, height = height, width
        target = _fit((width, height), bounds, name)
        if target != (width, height) and source_format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: much less memory and time.
            swapped = orientation in _AXIS_SWAPPING_ORIENTATIONS
            img.draft(None, (target[1], target[0]) if swapped else target)
        img.load()
        source_mode = img.mode
        icc_profile = img.info.get("icc_profile")

        out: Image.Image = img
        if orientation != 1:
            out = ImageOps.exif_transpose(out)
            notes.append("Rotated the photo upright, as its camera orientation tag says.")
        if out.has_transparency_data:
            out, note = _flatten(out)
            notes.append(note)
        elif out.mode not in _PASSTHROUGH_MODES:
            notes.append(f"Converted the colours from {out.mode} to RGB (the model expects RGB).")
            out = out.convert("RGB")
        if target != (width, height):
            out = _eight_bit(out)
            if out.size != target:
                out = out.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
            notes.append(
                f"Scaled down from {width}×{height} to {target[0]}×{target[1]} to fit "
                f"the {bounds.max_side}-pixel limit."
            )

        if not notes and len(data) <= max_bytes:
            return PreparedImage(data, _MIME[source_format], width, height)
        if _colour_family(out.mode) != _colour_family(source_mode):
            icc_profile = None  # e.g. a CMYK profile no longer describes the RGB pixels
        raw, mime = _encode(out, source_format, icc_profile, notes, name, max_bytes)
        return PreparedImage(raw, mime, out.width, out.height, tuple(notes))


def _flatten(img: Image.Image) -> tuple[Image.Image, str]:
    """Composite onto white: what a member sees on a light background, without an alpha channel."""
    rgba = img.convert("RGBA")
    alpha = rgba.getchannel("A")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=alpha)
    if alpha.getextrema()[0] == 255:
        return background, (
            "Removed the unused transparency channel (the model does not accept transparency)."
        )
    return background, (
        "Flattened the transparent background onto white (the model does not accept transparency)."
    )


def _eight_bit(img: Image.Image) -> Image.Image:
    """RGB or L, as resampling and JPEG need: palette expanded, 16-bit grey scaled (not clipped)."""
    if img.mode in ("RGB", "L"):
        return img
    if img.mode.startswith("I"):
        return img.point(lambda value: value / 256).convert("L")
    return img.convert("L" if img.mode == "1" else "RGB")


def _colour_family(mode: str) -> str:
    if mode in ("1", "L", "LA", "La", "I", "I;16"):
        return "grey"
    if mode in ("P", "PA", "RGB", "RGBA", "RGBa"):
        return "rgb"
    return mode


def _encode(
    img: Image.Image,
    source_format: str,
    icc_profile: bytes | None,
    notes: list[str],
    name: str,
    max_bytes: int,
) -> tuple[bytes, str]:
    """Encode without metadata (only the colour profile is kept), under ``max_bytes``.

    A lossless source stays PNG if that fits; otherwise JPEG at falling quality. Appends a note
    when the byte limit, not a repair, decided the encoding.
    """
    limit = megabytes(max_bytes)
    size_only = not notes
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    if source_format in _LOSSLESS_SOURCES:
        raw = _save(img, "PNG", **extra)
        if len(raw) <= max_bytes:
            if size_only:
                notes.append(f"Re-encoded as PNG to stay under {limit}.")
            return raw, "image/png"
    jpeg_ready = _eight_bit(img)
    for quality in JPEG_QUALITIES:
        raw = _save(jpeg_ready, "JPEG", quality=quality, **extra)
        if len(raw) <= max_bytes:
            if size_only or source_format in _LOSSLESS_SOURCES or quality != JPEG_QUALITIES[0]:
                notes.append(f"Re-encoded as JPEG (quality {quality}) to stay under {limit}.")
            return raw, "image/jpeg"
    raise MediaRejected(
        f"{name} is still over {limit} even saved as a JPEG at quality {JPEG_QUALITIES[-1]}. "
        "Use a smaller or less detailed image."
    )


def _save(img: Image.Image, image_format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, image_format, **params)
    return buffer.getvalue()
