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
- decode more than :data:`MAX_DECODED_BYTES` of pixels for one file, or more than
  :data:`MAX_CONCURRENT_DECODES` files at once (:func:`prepare_image_async`'s pool): a 0.2 MB
  PNG can hold 190 MB of pixels, and twenty members can attach one each at the same moment;
- let a Pillow exception escape: every failure is a :class:`MediaRejected`;
- pass on metadata (GPS position, camera serial, captions): a file sent as it is loses it at
  the byte level (:mod:`.metadata`), a re-encoded one keeps only its colour profile.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import io
import math
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import cast

from PIL import ExifTags, Image, UnidentifiedImageError

from bot.catalog import MAX_INPUT_IMAGE_BYTES, PixelBounds, data_uri
from bot.i18n import N_, _
from bot.media.errors import MIB, MediaRejected, megabytes
from bot.media.metadata import strip_metadata

MAX_INPUT_DOWNLOAD_BYTES = 25 * MIB
"""The largest file looked at at all (Discord's own attachment limit for most members)."""

MAX_SOURCE_PIXELS = 50_000_000
"""The most pixels decoded from one file: a 48-50 MP phone photo fits, a pixel bomb does not."""

MAX_DECODED_BYTES = 64 * MIB
"""The most memory one file's pixels may take while checked (as Pillow holds them, RGB padded
to 4 bytes): 16.7 megapixels of colour (4096×4096), 50 of grey. Found from the header before
decoding; a JPEG is decoded at a reduced scale instead when that fits the model's minimum size."""

MAX_CONCURRENT_DECODES = 2
"""Files decoded at once in the whole process (the machine's cores, not the members' count):
with the budget above, and at most one full-size copy besides the decoded pixels (a flattened
background), image checks hold at most about 2 × 2 × 64 MB."""

DECODE_POOL = ThreadPoolExecutor(
    max_workers=MAX_CONCURRENT_DECODES, thread_name_prefix="image-check"
)
"""Where :func:`prepare_image_async` runs image checks (never the default executor)."""

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
# What turns a photo stored with EXIF orientation N upright (as ImageOps.exif_transpose does).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Bytes per pixel as Pillow stores a mode (every mode not named takes 4: RGB is padded).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_EIGHT_BIT_GREY = frozenset({"1", "L"})  # scaled as L, never widened to RGB
_MODE_WORDS = {
    "RGBA": N_("colour with transparency"),
    "RGB": N_("colour"),
    "P": N_("palette colour"),
    "L": N_("greyscale"),
    "1": N_("black and white"),
    "LA": N_("greyscale with transparency"),
    "CMYK": N_("CMYK colour"),
    "I;16": N_("16-bit greyscale"),
}
# What Pillow raises, while decoding, on a damaged or hostile file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
# Signatures of formats members often try, to name them in the refusal.
_KNOWN_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF8", N_("a GIF")),
    (0, b"II*\x00", N_("a TIFF")),
    (0, b"MM\x00*", N_("a TIFF")),
    (0, b"%PDF", N_("a PDF")),
    (0, b"8BPS", N_("a Photoshop")),
    (4, b"ftypheic", N_("a HEIC")),
    (4, b"ftypheix", N_("a HEIC")),
    (4, b"ftypmif1", N_("a HEIF")),
    (4, b"ftypavif", N_("an AVIF")),
)


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for a request field: the exact bytes to send and what was done to them.

    ``raw`` is the encoded file (stored content-addressed by ``sha256``), never with metadata;
    ``notes`` lists each repair in a member's words, empty when the member's file is sent as it
    came, with only its metadata dropped (its compressed pixels byte for byte).
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

    @property
    def data_uri(self) -> str:
        """``raw`` as a request field's ``data:`` URI, made afresh at each call: the request
        built from it is its only holder (megabytes that go once the job is stored)."""
        return data_uri(self.mime, self.raw)


def prepare_image(
    data: bytes,
    bounds: PixelBounds,
    *,
    name: str = "image",
    max_bytes: int = MAX_INPUT_IMAGE_BYTES,
) -> PreparedImage:
    """Check ``data`` against ``bounds`` and ``max_bytes``; repair what can be, refuse the rest.

    CPU-bound and synchronous: from the event loop, await :func:`prepare_image_async`, which
    runs it on the bounded decode pool. ``name`` is the member's label for the file, used in
    messages. Raises :class:`MediaRejected`.
    """
    if not data:
        raise MediaRejected(
            _("{file} is empty (0 bytes). Attach the image again.").format(file=name)
        )
    if len(data) > MAX_INPUT_DOWNLOAD_BYTES:
        raise MediaRejected(
            _(
                "{file} is {size}; the largest file accepted is {limit}. Use a smaller image."
            ).format(
                file=name, size=megabytes(len(data)), limit=megabytes(MAX_INPUT_DOWNLOAD_BYTES)
            )
        )
    try:
        return _check_and_fix(data, bounds, name, max_bytes)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(name) from exc
    except _DECODE_ERRORS as exc:  # MetadataError is a ValueError: a broken container
        raise MediaRejected(
            _(
                "{file} looks damaged or incomplete, so it can't be read. Save or export it "
                "again and attach the new file."
            ).format(file=name)
        ) from exc


async def prepare_image_async(
    data: bytes,
    bounds: PixelBounds,
    *,
    name: str = "image",
    max_bytes: int = MAX_INPUT_IMAGE_BYTES,
) -> PreparedImage:
    """:func:`prepare_image` on the decode pool: at most :data:`MAX_CONCURRENT_DECODES` files
    are decoded at once in the whole process, however many members attach at once."""
    loop = asyncio.get_running_loop()
    work = functools.partial(prepare_image, data, bounds, name=name, max_bytes=max_bytes)
    # In this task's context, so the refusals and notes speak the member's language (bot.i18n).
    return await loop.run_in_executor(DECODE_POOL, contextvars.copy_context().run, work)


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
        text = (
            _(
                "{file} is {kind} file; the models take {formats} images. Convert it to JPEG "
                "or PNG and attach it again."
            )
            if kind
            else _(
                "{file} isn't an image this bot can read; the models take {formats} images. "
                "Convert it to JPEG or PNG and attach it again."
            )
        )
        raise MediaRejected(text.format(file=name, kind=_(kind), formats=_FORMAT_WORDS)) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning only raises when warnings are errors; either way the pixel count is absurd.
        raise _too_many_pixels(name) from exc


def _too_many_pixels(name: str, size: tuple[int, int] | None = None) -> MediaRejected:
    limit = f"{MAX_SOURCE_PIXELS / 1e6:.0f}"
    if size is None:
        return MediaRejected(
            _(
                "{file} claims more than {limit} megapixels, more than this bot will process. "
                "Use a smaller image."
            ).format(file=name, limit=limit)
        )
    width, height = size
    return MediaRejected(
        _(
            "{file} is {width}×{height} pixels ({megapixels} megapixels); the most this bot "
            "will process is {limit} megapixels. Use a smaller image."
        ).format(
            file=name,
            width=width,
            height=height,
            megapixels=f"{width * height / 1e6:.0f}",
            limit=limit,
        )
    )


def working_bytes_per_pixel(mode: str, *, converted: bool) -> int:
    """Bytes a pixel of ``mode`` takes in memory while checked, as Pillow stores it (RGB is
    padded to 4); ``converted``: it will be turned into RGB(A) on the way (flattened, scaled)."""
    own = _BYTES_PER_PIXEL.get(mode, 4)
    return max(own, 4) if converted and mode not in _EIGHT_BIT_GREY else own


def _decode_budget_refusal(name: str, size: tuple[int, int], mode: str, bpp: int) -> MediaRejected:
    width, height = size
    pixels = MAX_DECODED_BYTES // bpp
    scale = math.sqrt(pixels / (width * height))
    fit = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    kind = _(_MODE_WORDS[mode]) if mode in _MODE_WORDS else f"{mode} colour"
    return MediaRejected(
        _(
            "{file} is {width}×{height} pixels of {kind} ({megapixels} megapixels): too many to "
            "decode at once. In this format the most is {most} megapixels; resize it to at most "
            "{fit_width}×{fit_height} (or save it as a JPEG) and attach it again."
        ).format(
            file=name,
            width=width,
            height=height,
            kind=kind,
            megapixels=f"{width * height / 1e6:.1f}",
            most=f"{pixels / 1e6:.1f}",
            fit_width=fit[0],
            fit_height=fit[1],
        )
    )


def _orientation(img: Image.Image) -> int:
    """The EXIF (or XMP) orientation, read from what the header parse found: for PNG only
    an ``eXIf`` chunk before the pixels (Pillow's PNG ``getexif()`` would decode first)."""
    try:
        value = Image.Image.getexif(img).get(_ORIENTATION_TAG, 1)
    except (*_DECODE_ERRORS, TypeError):
        return 1
    return value if isinstance(value, int) and value in range(2, 9) else 1


def _jpeg_scale(
    size: tuple[int, int], target: tuple[int, int], bpp: int, bounds: PixelBounds
) -> int:
    """The libjpeg scale denominator (1, 2, 4, 8) to decode at: the largest that still gives
    ``target`` pixels, or more when that is needed to stay within the decode budget (while
    each side keeps the model's minimum)."""
    width, height = size
    ratio = min(width // max(target[0], 1), height // max(target[1], 1))
    scale = next(s for s in (8, 4, 2, 1) if ratio >= s)
    while scale < 8 and _ceil_div(width, scale) * _ceil_div(height, scale) * bpp > (
        MAX_DECODED_BYTES
    ):
        smaller = (_ceil_div(width, 2 * scale), _ceil_div(height, 2 * scale))
        if min(smaller) < bounds.min_side:
            break
        scale *= 2
    return scale


def _ceil_div(value: int, by: int) -> int:
    return -(-value // by)


def _fit(size: tuple[int, int], bounds: PixelBounds, name: str) -> tuple[int, int]:
    """The size to send: ``size`` itself, or scaled down to ``bounds.max_side``; else refuse."""
    width, height = size
    if min(width, height) < bounds.min_side:
        raise MediaRejected(
            _(
                "{file} is {width}×{height} pixels; this model needs at least {min_side} pixels "
                "on each side. Use a larger image."
            ).format(file=name, width=width, height=height, min_side=bounds.min_side)
        )
    longest = max(width, height)
    if longest <= bounds.max_side:
        return size
    scale = bounds.max_side / longest
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if min(target) < bounds.min_side:
        ratio = math.floor(bounds.max_side / bounds.min_side * 10) / 10
        raise MediaRejected(
            _(
                "{file} is {width}×{height} pixels, too long and narrow: shrunk to the "
                "{max_side}-pixel limit it would be {target_width}×{target_height}, under the "
                "{min_side}-pixel minimum. Crop it so the long side is at most {ratio} times the "
                "short side."
            ).format(
                file=name,
                width=width,
                height=height,
                max_side=bounds.max_side,
                target_width=target[0],
                target_height=target[1],
                min_side=bounds.min_side,
                ratio=ratio,
            )
        )
    return target


def _swap(size: tuple[int, int], swapped: bool) -> tuple[int, int]:
    return (size[1], size[0]) if swapped else size


def _check_and_fix(data: bytes, bounds: PixelBounds, name: str, max_bytes: int) -> PreparedImage:
    """One open, the header's checks, at most one decode, and a re-encode only for a repair.

    Everything that can be refused from the header is refused before a pixel is decoded: the
    format, animation, the pixel count, the size bounds and the decode budget. A file that needs
    no repair is sent with its metadata dropped at the byte level (:mod:`.metadata`), its
    compressed pixels untouched.
    """
    with _open(data, name) as img:
        source_format = str(img.format)
        if source_format != "MPO" and getattr(img, "n_frames", 1) > 1:
            raise MediaRejected(
                _(
                    "{file} is animated; animated images aren't accepted. Use a still frame (a "
                    "screenshot, or export one frame) instead."
                ).format(file=name)
            )
        if img.width * img.height > MAX_SOURCE_PIXELS:
            raise _too_many_pixels(name, img.size)
        orientation = _orientation(img)
        swapped = orientation in _AXIS_SWAPPING_ORIENTATIONS
        width, height = _swap(img.size, swapped)  # as the member sees it
        target = _fit((width, height), bounds, name)
        transparent = img.has_transparency_data
        converting = transparent or img.mode not in _PASSTHROUGH_MODES
        bpp = working_bytes_per_pixel(img.mode, converted=converting or target != (width, height))
        source_mode = img.mode
        if source_format in ("JPEG", "MPO"):
            scale = _jpeg_scale(img.size, _swap(target, swapped), bpp, bounds)
            if scale > 1:
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale: much less memory and time.
                img.draft(None, (img.width // scale, img.height // scale))
        if img.width * img.height * bpp > MAX_DECODED_BYTES:
            raise _decode_budget_refusal(name, img.size, source_mode, bpp)
        if source_format == "PNG":
            _verify_png(data, name)
        img.load()  # the one decode: a truncated or corrupt file fails here
        decoded_size = _swap(img.size, swapped)
        squeezed = decoded_size[0] < target[0] or decoded_size[1] < target[1]
        if squeezed:
            target = decoded_size  # decoded smaller than the limit asks, to fit the budget
        icc_profile = img.info.get("icc_profile")
        out, notes = _repair(img, orientation, target, transparent)
        if target != (width, height):
            reason = (
                _("to stay within what this bot decodes at once")
                if squeezed
                else _("to fit the {max_side}-pixel limit").format(max_side=bounds.max_side)
            )
            notes.append(
                _(
                    "Scaled down from {width}×{height} to {target_width}×{target_height} {why}."
                ).format(
                    width=width,
                    height=height,
                    target_width=target[0],
                    target_height=target[1],
                    why=reason,
                )
            )
        if not notes:
            stripped = strip_metadata(data)
            if len(stripped) <= max_bytes:
                return PreparedImage(stripped, _MIME[source_format], width, height)
        if _colour_family(out.mode) != _colour_family(source_mode):
            icc_profile = None  # e.g. a CMYK profile no longer describes the RGB pixels
        if out is not img:
            img.close()  # the decoded pixels go before the encoder's buffers come
        raw, mime = _encode(out, source_format, icc_profile, notes, name, max_bytes)
        return PreparedImage(raw, mime, out.width, out.height, tuple(notes))


def _verify_png(data: bytes, name: str) -> None:
    """Every chunk's checksum, without decoding: a corrupt PNG can decode here but fail
    upstream. (``verify()`` leaves the image unusable, hence its own lazy open.)"""
    with _open(data, name) as img:
        img.verify()


def _repair(
    img: Image.Image, orientation: int, target: tuple[int, int], transparent: bool
) -> tuple[Image.Image, list[str]]:
    """Rotate, flatten or convert, and scale ``img`` (decoded, in its stored orientation) to
    ``target`` (as seen upright). Scaling comes first, so the other steps work on the small
    image and at most one full-size copy exists besides the decoded pixels."""
    notes: list[str] = []
    swapped = orientation in _AXIS_SWAPPING_ORIENTATIONS
    stored_target = _swap(target, swapped)
    out = img
    if orientation != 1:
        notes.append(_("Rotated the photo upright, as its camera orientation tag says."))
    if out.size != stored_target:
        out = _scaled(out, stored_target, transparent)
    if transparent:
        out, note = _flatten(out)
        notes.append(note)
    elif out.mode not in _PASSTHROUGH_MODES:
        notes.append(
            _("Converted the colours from {mode} to RGB (the model expects RGB).").format(
                mode=out.mode
            )
        )
        out = out.convert("RGB")
    if orientation != 1:
        out = out.transpose(_TRANSPOSE[orientation])
    return out, notes


def _scaled(img: Image.Image, size: tuple[int, int], transparent: bool) -> Image.Image:
    """``img`` resampled to ``size`` (Lanczos, after a fast integer reduction). Transparent
    images are scaled with premultiplied alpha, so hidden colours do not bleed into edges."""
    if transparent:
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        premultiplied = rgba.convert("RGBa")
        del rgba
        factor = min(premultiplied.width // size[0], premultiplied.height // size[1]) // 3
        if factor > 1:
            premultiplied = premultiplied.reduce(factor)
        return premultiplied.resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    if img.mode not in _PASSTHROUGH_MODES:
        img = img.convert("RGB")
    return _eight_bit(img).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _flatten(img: Image.Image) -> tuple[Image.Image, str]:
    """Composite onto white: what a member sees on a light background, without an alpha channel.

    The image is its own mask (its alpha band), so no full-size copy of the alpha is made."""
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba)
    # A multi-band image gives one (low, high) per band; alpha is the fourth.
    bands = cast(tuple[tuple[int, int], ...], rgba.getextrema())
    if bands[3][0] == 255:
        return background, (
            _("Removed the unused transparency channel (the model does not accept transparency).")
        )
    return background, (
        _(
            "Flattened the transparent background onto white (the model does not accept "
            "transparency)."
        )
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
                notes.append(_("Re-encoded as PNG to stay under {limit}.").format(limit=limit))
            return raw, "image/png"
    jpeg_ready = _eight_bit(img)
    for quality in JPEG_QUALITIES:
        raw = _save(jpeg_ready, "JPEG", quality=quality, **extra)
        if len(raw) <= max_bytes:
            if size_only or source_format in _LOSSLESS_SOURCES or quality != JPEG_QUALITIES[0]:
                notes.append(
                    _("Re-encoded as JPEG (quality {quality}) to stay under {limit}.").format(
                        quality=quality, limit=limit
                    )
                )
            return raw, "image/jpeg"
    raise MediaRejected(
        _(
            "{file} is still over {limit} even saved as a JPEG at quality {quality}. Use a "
            "smaller or less detailed image."
        ).format(file=name, limit=limit, quality=JPEG_QUALITIES[-1])
    )


def _save(img: Image.Image, image_format: str, **params: object) -> bytes:
    """Pillow's encoding, through the metadata filter too: nothing but the profile leaves."""
    buffer = io.BytesIO()
    img.save(buffer, image_format, **params)
    return strip_metadata(buffer.getvalue())
