"""Metadata leaves every image the bot sends: photos with GPS EXIF, XMP, comments and text
chunks, in JPEG, PNG and WebP, through :func:`strip_metadata` and through ``prepare_image``;
the colour profile stays, the orientation is applied, and a file that needs no repair keeps its
compressed pixels byte for byte."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from bot.catalog import VIDEO_INPUT_BOUNDS
from bot.media import MetadataError, prepare_image, strip_metadata
from bot.media.metadata import strip_jpeg, strip_png, strip_webp

V = VIDEO_INPUT_BOUNDS
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description exif:GPSLatitude="48,51.5N"/></rdf:RDF></x:xmpmeta>'
)
SECRET = b"Secret Street 5"


def profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.ImageDescription] = SECRET.decode()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 30.0)
    return exif


def quadrants(size: tuple[int, int]) -> Image.Image:
    """Red top-left quadrant on blue: where it lands shows how the image was turned."""
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    return img


def save(img: Image.Image, image_format: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, image_format, **params)
    return out.getvalue()


def assert_no_metadata(raw: bytes) -> None:
    for marker in (b"Exif\x00\x00", b"GPS", b"PhoneCo", SECRET, b"xmpmeta", b"tEXt", b"eXIf"):
        assert marker not in raw, marker
    img = Image.open(io.BytesIO(raw))
    img.load()
    assert dict(img.getexif()) == {}
    assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment"} & set(img.info)


def jpeg_scan(raw: bytes) -> bytes:
    """The compressed picture: from the first SOS to EOI."""
    start = raw.index(b"\xff\xda")
    return raw[start : raw.index(b"\xff\xd9", start) + 2]


def png_chunks(raw: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(raw):
        length, kind = struct.unpack_from(">I4s", raw, pos)
        chunks.append((kind, raw[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


# --- JPEG -------------------------------------------------------------------------------------


def test_a_rotated_gps_photo_loses_gps_xmp_and_comment_keeps_its_profile_and_turns_upright() -> (
    None
):
    icc = profile()
    data = save(
        quadrants((600, 400)),
        "JPEG",
        quality=95,
        exif=gps_exif(orientation=6),
        xmp=XMP,
        comment=SECRET,
        icc_profile=icc,
    )
    assert b"GPS" in data
    assert b"xmpmeta" in data
    assert SECRET in data
    prepared = prepare_image(data, V, name="phone.jpg")
    assert_no_metadata(prepared.raw)
    out = Image.open(io.BytesIO(prepared.raw))
    assert out.info.get("icc_profile") == icc
    # Orientation 6: shown turned 90° clockwise; the red corner moves to the top right.
    assert out.size == (400, 600) == (prepared.width, prepared.height)
    red_at = out.convert("RGB").getpixel((350, 50))
    blue_at = out.convert("RGB").getpixel((50, 50))
    assert isinstance(red_at, tuple)
    assert isinstance(blue_at, tuple)
    assert red_at[0] > 200
    assert red_at[2] < 60
    assert blue_at[2] > 200
    assert blue_at[0] < 60
    assert prepared.notes == ("Rotated the photo upright, as its camera orientation tag says.",)


def test_an_upright_gps_photo_is_not_re_encoded_its_scan_is_kept_byte_for_byte() -> None:
    icc = profile()
    data = save(
        quadrants((600, 400)), "JPEG", exif=gps_exif(), xmp=XMP, comment=SECRET, icc_profile=icc
    )
    prepared = prepare_image(data, V)
    assert prepared.notes == ()
    assert_no_metadata(prepared.raw)
    assert jpeg_scan(prepared.raw) == jpeg_scan(data)
    assert Image.open(io.BytesIO(prepared.raw)).info.get("icc_profile") == icc
    assert prepared.raw.startswith(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")  # the JFIF header stays
    assert len(prepared.raw) < len(data)


def test_jpeg_application_segments_and_comments_go_jfif_icc_adobe_stay() -> None:
    def segment(marker: int, payload: bytes) -> bytes:
        return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload

    body = jpeg_scan(save(Image.new("RGB", (16, 16), "red"), "JPEG"))
    header = save(Image.new("RGB", (16, 16), "red"), "JPEG")
    tables = header[header.index(b"\xff\xdb") : header.index(b"\xff\xda")]
    jfif = b"JFIF\x00\x01\x02\x00\x00\x48\x00\x48\x02\x01" + b"\x00" * 6  # with a 2×1 thumbnail
    data = (
        b"\xff\xd8"
        + segment(0xE0, jfif)
        + segment(0xE1, b"Exif\x00\x00" + SECRET)
        + segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
        + segment(0xE2, b"ICC_PROFILE\x00\x01\x01icc")
        + segment(0xE2, b"MPF\x00" + SECRET)
        + segment(0xED, b"Photoshop 3.0\x00" + SECRET)  # IPTC
        + segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
        + segment(0xFE, SECRET)
        + tables
        + body
        + b"\xff\xd8trailing picture with "
        + SECRET
    )
    stripped = strip_jpeg(data)
    assert SECRET not in stripped
    assert b"xmpmeta" not in stripped
    assert stripped == (
        b"\xff\xd8"
        + segment(0xE0, jfif[:12] + b"\x00\x00")
        + segment(0xE2, b"ICC_PROFILE\x00\x01\x01icc")
        + segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
        + tables
        + body
    )


def test_a_jpeg_without_metadata_comes_back_as_the_same_object() -> None:
    data = save(Image.new("RGB", (32, 32), "red"), "JPEG")
    assert strip_metadata(data) is data


@pytest.mark.parametrize("cut", [3, 10, 30])
def test_a_cut_jpeg_header_is_a_metadata_error(cut: int) -> None:
    data = save(Image.new("RGB", (32, 32), "red"), "JPEG", exif=gps_exif())
    with pytest.raises(MetadataError):
        strip_jpeg(data[:cut])


# --- PNG --------------------------------------------------------------------------------------


def png_with_metadata(mode: str = "RGB", **params: object) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", SECRET.decode())
    info.add_text("Comment", "compressed " + SECRET.decode(), zip=True)
    info.add_itxt("Author", SECRET.decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2026, 12, 1, 10, 30, 0))
    return save(quadrants((500, 400)).convert(mode), "PNG", pnginfo=info, exif=gps_exif(), **params)


def test_png_text_exif_and_time_go_the_profile_stays_and_the_pixels_are_the_same_bytes() -> None:
    icc = profile()
    data = png_with_metadata(icc_profile=icc)
    kinds = [kind for kind, _ in png_chunks(data)]
    assert {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf", b"iCCP"} <= set(kinds)
    prepared = prepare_image(data, V)
    assert prepared.notes == ()
    assert_no_metadata(prepared.raw)
    assert [kind for kind, _ in png_chunks(prepared.raw)] == [b"IHDR", b"iCCP", b"IDAT", b"IEND"]
    idat = [body for kind, body in png_chunks(data) if kind == b"IDAT"]
    assert [body for kind, body in png_chunks(prepared.raw) if kind == b"IDAT"] == idat
    assert Image.open(io.BytesIO(prepared.raw)).info.get("icc_profile") == icc


def test_png_transparency_and_colour_chunks_are_kept_unknown_ones_and_trailing_bytes_go() -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    base = save(Image.new("P", (8, 8)), "PNG", transparency=0)
    chunks = png_chunks(base)
    kept = [chunk(kind, body) for kind, body in chunks if kind != b"IEND"]
    extra = chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"prVt", SECRET)
    data = b"\x89PNG\r\n\x1a\n" + kept[0] + extra + b"".join(kept[1:]) + chunk(b"IEND", b"")
    stripped = strip_png(data + b"after the end " + SECRET)
    assert SECRET not in stripped
    kinds = [kind for kind, _ in png_chunks(stripped)]
    assert b"tRNS" in kinds
    assert b"gAMA" in kinds
    assert b"PLTE" in kinds
    assert kinds[-1] == b"IEND"


def test_a_png_with_nothing_to_remove_is_returned_as_it_is_and_trailing_bytes_still_go() -> None:
    clean = save(quadrants((500, 400)), "PNG")
    assert strip_png(clean) is clean  # megabytes are not copied for nothing
    assert strip_png(clean + b"junk") == clean


# --- WebP -------------------------------------------------------------------------------------


def test_webp_exif_and_xmp_chunks_go_and_the_container_is_made_to_match() -> None:
    icc = profile()
    data = save(
        quadrants((500, 400)),
        "WEBP",
        quality=90,
        exif=gps_exif().tobytes(),
        xmp=XMP,
        icc_profile=icc,
    )
    assert b"EXIF" in data
    assert b"XMP " in data
    prepared = prepare_image(data, V)
    assert prepared.notes == ()
    raw = prepared.raw
    assert_no_metadata(raw)
    assert b"EXIF" not in raw
    assert b"XMP " not in raw
    assert int.from_bytes(raw[4:8], "little") + 8 == len(raw)
    assert raw[12:16] == b"VP8X"
    assert raw[20] & 0x0C == 0
    assert raw[20] & 0x20
    assert Image.open(io.BytesIO(raw)).info.get("icc_profile") == icc
    vp8 = data.index(b"VP8 ")
    assert raw.endswith(data[vp8 : vp8 + 8 + int.from_bytes(data[vp8 + 4 : vp8 + 8], "little")])


def test_a_webp_whose_chunk_runs_past_the_end_is_a_metadata_error() -> None:
    data = save(Image.new("RGB", (16, 16)), "WEBP", exif=gps_exif().tobytes())
    with pytest.raises(MetadataError):
        strip_webp(data[:-10])


def test_other_formats_are_returned_as_they_are() -> None:
    data = save(Image.new("RGB", (16, 16)), "BMP")
    assert strip_metadata(data) is data
