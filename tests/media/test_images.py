"""prepare_image on real files made with Pillow: what passes untouched, what is repaired, what is
refused and with which words."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import warnings
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms

from bot.catalog import I2I_INPUT_BOUNDS, VIDEO_INPUT_BOUNDS, data_uri, is_data_uri
from bot.media import MAX_INPUT_DOWNLOAD_BYTES, MediaRejected, PreparedImage, prepare_image

V = VIDEO_INPUT_BOUNDS


def encode(img: Image.Image, image_format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, image_format, **params)
    return buffer.getvalue()


def noise(size: tuple[int, int]) -> Image.Image:
    """Random pixels: no encoder can compress them, so byte sizes are predictable."""
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def picture(size: tuple[int, int]) -> Image.Image:
    """A smooth gradient, like a photo compresses: small files."""
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge(
        "RGB",
        (
            gradient,
            gradient.transpose(Image.Transpose.ROTATE_90).resize(size),
            Image.new("L", size, 128),
        ),
    )


def decoded(prepared: PreparedImage) -> Image.Image:
    """Open the image a provider would receive, from the data URI, and check it is ``raw``."""
    assert is_data_uri(prepared.data_uri)
    assert prepared.data_uri == data_uri(prepared.mime, prepared.raw)
    header, payload = prepared.data_uri.split(",", 1)
    assert header == f"data:{prepared.mime};base64"
    raw = base64.b64decode(payload)
    assert raw == prepared.raw
    img = Image.open(io.BytesIO(raw))
    img.load()
    assert img.size == (prepared.width, prepared.height)
    return img


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header (with a correct CRC) claims ``width`` × ``height``."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def refusal(data: bytes, bounds: object = V, **kwargs: object) -> str:
    with pytest.raises(MediaRejected) as info:
        prepare_image(data, bounds, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == info.value.user_message
    return info.value.user_message


# ---------------------------------------------------------------------------------------------
# Files that need nothing are sent byte for byte.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "mime", "mode"),
    [
        ("JPEG", "image/jpeg", "RGB"),
        ("PNG", "image/png", "RGB"),
        ("PNG", "image/png", "L"),
        ("PNG", "image/png", "P"),
        ("BMP", "image/bmp", "RGB"),
        ("WEBP", "image/webp", "RGB"),
    ],
)
def test_a_file_within_every_limit_passes_through_unchanged(
    image_format: str, mime: str, mode: str
) -> None:
    data = encode(picture((800, 600)).convert(mode), image_format)
    prepared = prepare_image(data, V, name="photo")
    assert prepared.raw == data
    assert (prepared.mime, prepared.width, prepared.height) == (mime, 800, 600)
    assert prepared.notes == ()
    assert prepared.byte_size == len(data)
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert decoded(prepared).format == image_format


def test_the_format_comes_from_the_bytes_not_the_name() -> None:
    data = encode(picture((500, 500)), "PNG")
    assert prepare_image(data, V, name="photo.jpg").mime == "image/png"


def test_a_multi_picture_jpeg_counts_as_a_still_jpeg() -> None:
    # Phones write MPO (a JPEG plus depth maps or HDR gain maps); it is a valid JPEG upstream.
    first, second = picture((600, 400)), Image.new("RGB", (600, 400), "blue")
    data = encode(first, "MPO", save_all=True, append_images=[second])
    prepared = prepare_image(data, V)
    assert (prepared.mime, prepared.notes) == ("image/jpeg", ())
    # Sent as its first picture: the pictures after it (and their own metadata) are dropped,
    # the first one's compressed data is kept byte for byte.
    sos = data.index(b"\xff\xda")
    first_end = data.index(b"\xff\xd9", sos) + 2
    assert prepared.raw.endswith(data[sos:first_end])
    assert len(prepared.raw) < first_end
    assert decoded(prepared).format == "JPEG"


def test_the_bytes_are_not_repeated_in_the_repr() -> None:
    prepared = prepare_image(encode(picture((400, 400)), "PNG"), V)
    assert "raw" not in repr(prepared)
    assert len(repr(prepared)) < 200


# ---------------------------------------------------------------------------------------------
# Repairs.
# ---------------------------------------------------------------------------------------------

FLATTENED = (
    "Flattened the transparent background onto white (the model does not accept transparency)."
)


def test_transparency_is_flattened_onto_white() -> None:
    img = Image.new("RGBA", (500, 400), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 250, 400))
    prepared = prepare_image(encode(img, "PNG"), V, name="logo.png")
    assert prepared.notes == (FLATTENED,)
    assert prepared.mime == "image/png"
    out = decoded(prepared)
    assert out.mode == "RGB"
    assert out.getpixel((10, 10)) == (255, 0, 0)
    assert out.getpixel((400, 10)) == (255, 255, 255)


def test_an_opaque_alpha_channel_is_removed_with_its_own_note() -> None:
    img = picture((500, 400)).convert("RGBA")
    prepared = prepare_image(encode(img, "PNG"), V)
    assert prepared.notes == (
        "Removed the unused transparency channel (the model does not accept transparency).",
    )
    assert decoded(prepared).mode == "RGB"


def test_a_palette_image_with_a_transparent_colour_is_flattened() -> None:
    img = Image.new("P", (400, 400), 1)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(0, (0, 0, 200, 400))
    data = encode(img, "PNG", transparency=0)
    prepared = prepare_image(data, V)
    assert prepared.notes == (FLATTENED,)
    out = decoded(prepared)
    assert out.mode == "RGB"
    assert out.getpixel((10, 10)) == (255, 255, 255)
    assert out.getpixel((300, 10)) == (0, 0, 255)


def test_a_transparent_webp_is_flattened_and_sent_as_jpeg() -> None:
    img = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    prepared = prepare_image(encode(img, "WEBP", lossless=True), V)
    assert prepared.notes == (FLATTENED,)
    assert prepared.mime == "image/jpeg"
    out = decoded(prepared)
    assert out.mode == "RGB"
    assert out.getpixel((200, 200)) == (255, 255, 255)


def test_cmyk_is_converted_to_rgb() -> None:
    data = encode(Image.new("CMYK", (400, 400), (0, 255, 255, 0)), "JPEG", quality=95)
    prepared = prepare_image(data, V)
    assert prepared.notes == ("Converted the colours from CMYK to RGB (the model expects RGB).",)
    out = decoded(prepared)
    assert (out.format, out.mode) == ("JPEG", "RGB")
    red, green, blue = out.getpixel((200, 200))
    assert (red > 200, green < 60, blue < 60) == (True, True, True)


def test_exif_orientation_is_applied_and_metadata_is_dropped() -> None:
    # Stored 800×400 with a red left half; orientation 6 means "rotate 90° clockwise to view",
    # so upright it is 400×800 with the red half on top.
    img = Image.new("RGB", (800, 400), "white")
    img.paste((255, 0, 0), (0, 0, 400, 400))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    data = encode(img, "JPEG", exif=exif, quality=95)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    prepared = prepare_image(data, V, name="IMG_0001.jpg")
    assert prepared.notes == ("Rotated the photo upright, as its camera orientation tag says.",)
    assert (prepared.width, prepared.height) == (400, 800)
    out = decoded(prepared)
    red, green, blue = out.getpixel((200, 100))
    assert (red > 240, green < 15, blue < 15) == (True, True, True)
    assert min(out.getpixel((200, 700))) > 240
    assert dict(out.getexif()) == {}
    assert "exif" not in out.info


def test_a_too_large_image_is_scaled_down_keeping_its_aspect_ratio() -> None:
    data = encode(picture((4000, 3000)), "JPEG", quality=90)
    prepared = prepare_image(data, V, name="big.jpg")
    assert prepared.notes == (
        "Scaled down from 4000×3000 to 2000×1500 to fit the 2000-pixel limit.",
    )
    assert (prepared.width, prepared.height, prepared.mime) == (2000, 1500, "image/jpeg")
    assert decoded(prepared).size == (2000, 1500)


def test_a_large_png_is_scaled_down_and_stays_png() -> None:
    prepared = prepare_image(encode(picture((2400, 1200)), "PNG"), V)
    assert prepared.notes == (
        "Scaled down from 2400×1200 to 2000×1000 to fit the 2000-pixel limit.",
    )
    assert (prepared.mime, decoded(prepared).size) == ("image/png", (2000, 1000))


def test_a_rotated_large_photo_is_rotated_then_scaled() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 8
    data = encode(picture((3000, 1000)), "JPEG", exif=exif)
    prepared = prepare_image(data, V)
    assert prepared.notes == (
        "Rotated the photo upright, as its camera orientation tag says.",
        "Scaled down from 1000×3000 to 667×2000 to fit the 2000-pixel limit.",
    )
    assert decoded(prepared).size == (667, 2000)


def test_sixteen_bit_grey_is_scaled_to_eight_bits_not_clipped() -> None:
    data = encode(Image.new("I;16", (2400, 1200), 30000), "PNG")
    prepared = prepare_image(data, V)
    out = decoded(prepared)
    assert (out.mode, out.size) == ("L", (2000, 1000))
    assert out.getpixel((1000, 500)) == 30000 // 256


def test_the_colour_profile_survives_a_re_encode() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(picture((2400, 1200)), "JPEG", icc_profile=profile)
    out = decoded(prepare_image(data, V))
    assert out.info.get("icc_profile") == profile


def test_a_noisy_png_over_10_mb_is_re_encoded_as_jpeg() -> None:
    data = encode(noise((1900, 1900)), "PNG", compress_level=1)
    assert len(data) > 10 * 1024 * 1024
    prepared = prepare_image(data, V, name="noise.png")
    assert prepared.notes == ("Re-encoded as JPEG (quality 92) to stay under 10 MB.",)
    assert prepared.mime == "image/jpeg"
    assert prepared.byte_size <= 10 * 1024 * 1024
    assert decoded(prepared).size == (1900, 1900)


def test_jpeg_quality_steps_down_until_the_file_fits() -> None:
    img = noise((400, 400))
    at_92 = len(encode(img, "JPEG", quality=92))
    prepared = prepare_image(encode(img, "PNG"), V, max_bytes=at_92 - 1)
    assert prepared.mime == "image/jpeg"
    assert prepared.byte_size < at_92
    (note,) = prepared.notes
    assert note.startswith("Re-encoded as JPEG (quality ")
    assert "quality 92" not in note


def test_a_jpeg_over_the_byte_limit_is_recompressed_with_a_note() -> None:
    data = encode(noise((400, 400)), "JPEG", quality=100)
    assert len(data) > 200 * 1024
    prepared = prepare_image(data, V, max_bytes=200 * 1024)
    assert prepared.mime == "image/jpeg"
    assert prepared.byte_size <= 200 * 1024
    assert prepared.notes == ("Re-encoded as JPEG (quality 92) to stay under 0.2 MB.",)


def test_a_bmp_over_the_byte_limit_becomes_png() -> None:
    data = encode(picture((600, 600)), "BMP")
    prepared = prepare_image(data, V, max_bytes=len(data) - 1)
    assert prepared.mime == "image/png"
    assert prepared.notes == (f"Re-encoded as PNG to stay under {(len(data) - 1) / 2**20:.2f} MB.",)


# ---------------------------------------------------------------------------------------------
# Refusals.
# ---------------------------------------------------------------------------------------------


def test_too_small_is_refused_with_the_size_and_minimum() -> None:
    message = refusal(encode(picture((300, 200)), "PNG"), name="image.png")
    assert message == (
        "image.png is 300×200 pixels; this model needs at least 360 pixels on "
        "each side. Use a larger image."
    )


def test_the_minimum_depends_on_the_model() -> None:
    data = encode(picture((370, 370)), "PNG")
    assert prepare_image(data, V).notes == ()
    assert "at least 384 pixels" in refusal(data, I2I_INPUT_BOUNDS)


def test_an_extreme_aspect_ratio_is_refused() -> None:
    message = refusal(encode(picture((4000, 500)), "PNG"), name="banner.png")
    assert message.startswith("banner.png is 4000×500 pixels, too long and narrow")
    assert "2000×250" in message
    assert "360-pixel minimum" in message
    assert "at most 5.5 times" in message


def test_animated_images_are_refused() -> None:
    frames = [picture((400, 400)), Image.new("RGB", (400, 400), "blue")]
    for image_format in ("WEBP", "PNG"):
        data = encode(frames[0], image_format, save_all=True, append_images=frames[1:])
        assert "animated images aren't accepted" in refusal(data)


@pytest.mark.parametrize(
    ("image_format", "expected"),
    [("GIF", "is a GIF file"), ("TIFF", "is a TIFF file")],
)
def test_other_image_formats_are_named_and_refused(image_format: str, expected: str) -> None:
    message = refusal(encode(picture((400, 400)), image_format), name="cat.png")
    assert message.startswith(f"cat.png {expected}")
    assert "JPEG, PNG, BMP or WEBP" in message


def test_non_image_bytes_are_refused() -> None:
    message = refusal(b"hello, this is not a picture" * 10, name="notes.txt")
    assert message.startswith("notes.txt isn't an image this bot can read")
    assert "JPEG, PNG, BMP or WEBP" in message


def test_an_empty_file_is_refused() -> None:
    assert refusal(b"", name="x.png") == "x.png is empty (0 bytes). Attach the image again."


def test_a_file_over_the_input_cap_is_refused_before_parsing() -> None:
    data = b"\xff" * (MAX_INPUT_DOWNLOAD_BYTES + 1)
    message = refusal(data, name="huge.jpg")
    assert message.startswith("huge.jpg is 25.00 MB; the largest file accepted is 25 MB")


def test_a_still_too_big_image_is_refused() -> None:
    message = refusal(encode(noise((400, 400)), "PNG"), max_bytes=50 * 1024, name="n.png")
    assert message == (
        "n.png is still over 0.05 MB even saved as a JPEG at quality 65. Use a "
        "smaller or less detailed image."
    )


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "BMP"])
def test_a_file_cut_off_mid_download_is_refused(image_format: str) -> None:
    data = encode(noise((400, 400)), image_format)
    message = refusal(data[: len(data) // 2], name="broken.img")
    assert message == (
        "broken.img looks damaged or incomplete, so it can't be read. Save or "
        "export it again and attach the new file."
    )


def test_a_png_with_a_bad_checksum_is_refused() -> None:
    data = bytearray(encode(noise((400, 400)), "PNG"))
    data[-100] ^= 0xFF  # inside the last IDAT chunk: pixels decode, the CRC does not match
    assert "damaged or incomplete" in refusal(bytes(data))


def test_a_header_claiming_ten_billion_pixels_is_refused() -> None:
    message = refusal(png_claiming(100_000, 100_000), name="bomb.png")
    assert message.startswith("bomb.png claims more than 50 megapixels")


def test_a_header_over_our_pixel_limit_is_refused_with_its_size() -> None:
    message = refusal(png_claiming(8000, 8000), name="big.png")
    assert message.startswith(
        "big.png is 8000×8000 pixels (64 megapixels); the most this bot "
        "will process is 50 megapixels"
    )


def test_pillows_bomb_warning_as_an_error_is_still_a_refusal() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = refusal(png_claiming(10_000, 10_000))
    assert "50 megapixels" in message
