"""Properties of the image checks: whatever bytes arrive (random, a valid image cut anywhere, a
valid image with bytes flipped), ``prepare_image`` answers with a prepared image or a
:class:`MediaRejected`, never another exception; and what it prepares carries no metadata.

Examples are bounded and derandomized (``max_examples``, ``deadline=None``, ``derandomize``) so
CI runs the same cases every time.
"""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image

from bot.catalog import I2I_INPUT_BOUNDS, VIDEO_INPUT_BOUNDS
from bot.media import MediaRejected, PreparedImage, prepare_image, strip_metadata

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _encode(image_format: str, mode: str, size: tuple[int, int], **params: object) -> bytes:
    gradient = Image.linear_gradient("L").resize(size)
    across = gradient.transpose(Image.Transpose.ROTATE_90).resize(size)
    img = Image.merge("RGB", (gradient, across, gradient))
    out = io.BytesIO()
    img.convert(mode).save(out, image_format, **params)
    return out.getvalue()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    return exif.tobytes()


# Small valid files of every accepted format, with metadata where the format has it.
VALID = [
    _encode("JPEG", "RGB", (400, 380), exif=_exif(), comment=b"note"),
    _encode("JPEG", "L", (420, 400), progressive=True),
    _encode("PNG", "RGB", (400, 400), exif=_exif()),
    _encode("PNG", "RGBA", (400, 400)),
    _encode("PNG", "P", (400, 400), transparency=3),
    _encode("BMP", "RGB", (400, 400)),
    _encode("WEBP", "RGB", (400, 400), exif=_exif(), xmp=b"<x:xmpmeta/>"),
    _encode("WEBP", "RGBA", (400, 400), lossless=True),
]
BOUNDS = st.sampled_from([VIDEO_INPUT_BOUNDS, I2I_INPUT_BOUNDS])


def _check(data: bytes, bounds: object) -> PreparedImage | None:
    """The property: a prepared image or a refusal; and a prepared image has no metadata."""
    try:
        prepared = prepare_image(data, bounds)  # type: ignore[arg-type]
    except MediaRejected as exc:
        refused: MediaRejected | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.user_message
        return None
    assert strip_metadata(prepared.raw) == prepared.raw
    with Image.open(io.BytesIO(prepared.raw)) as out:
        out.load()
        assert (out.width, out.height) == (prepared.width, prepared.height)
        assert ExifTags.Base.Orientation not in out.getexif()
    return prepared


@SETTINGS
@given(data=st.binary(max_size=4096), bounds=BOUNDS)
def test_arbitrary_bytes_are_refused_or_prepared(data: bytes, bounds: object) -> None:
    _check(data, bounds)


@SETTINGS
@given(
    data=st.sampled_from(VALID).flatmap(
        lambda valid: st.tuples(st.just(valid), st.integers(0, len(valid)))
    ),
    bounds=BOUNDS,
)
def test_a_valid_image_cut_anywhere_is_refused_or_prepared(
    data: tuple[bytes, int], bounds: object
) -> None:
    valid, cut = data
    _check(valid[:cut], bounds)


@SETTINGS
@given(
    data=st.sampled_from(VALID).flatmap(
        lambda valid: st.tuples(
            st.just(valid),
            st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), max_size=4),
        )
    ),
    bounds=BOUNDS,
)
def test_a_valid_image_with_bytes_changed_is_refused_or_prepared(
    data: tuple[bytes, list[tuple[int, int]]], bounds: object
) -> None:
    valid, changes = data
    damaged = bytearray(valid)
    for position, value in changes:
        damaged[position] = value
    _check(bytes(damaged), bounds)


def test_every_valid_sample_is_prepared_without_metadata() -> None:
    for valid in VALID:
        assert _check(valid, VIDEO_INPUT_BOUNDS) is not None
