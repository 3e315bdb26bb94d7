"""Members' images end to end: a phone photo's location never leaves the bot (not upstream, not
on the public status message), and a member at a limit is refused before their attachment is
even downloaded. The real bot process between the emulator and the simulator (``conftest.py``).
"""

from __future__ import annotations

import io

from PIL import ExifTags, Image

from bot.jobs.states import JobState
from tests.e2e.conftest import World, reply_of
from tests.e2e.test_generation_commands import decode_data_uri, queued, status_of

# One job at a time per member, and text-to-video slow enough to still run when the next comes.
BOT_ENV = {"WANBOT_MAX_JOBS_PER_MEMBER": "1", "WANBOT_QUEUE_PER_MEMBER": "0"}
SIM_CONFIG = {"durations": {"wan2.2-t2v-plus": 3600.0}}
PLACE = "Rue de la Paix 1"


def gps_photo() -> bytes:
    """An upright phone JPEG with GPS EXIF, XMP and a comment naming where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.ImageDescription] = PLACE
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 52.0, 10.0)
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{PLACE}</x:xmpmeta>'.encode()
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 120, 200)).save(
        out, "JPEG", quality=90, exif=exif, xmp=xmp, comment=PLACE.encode()
    )
    return out.getvalue()


def assert_no_location(data: bytes) -> None:
    for marker in (b"Exif\x00\x00", b"GPS", b"PhoneCo", PLACE.encode(), b"xmpmeta"):
        assert marker not in data, marker
    with Image.open(io.BytesIO(data)) as img:
        assert dict(img.getexif()) == {}
        assert not img.getexif().get_ifd(ExifTags.IFD.GPSInfo)


async def test_a_photos_location_reaches_neither_the_provider_nor_the_channel(world: World) -> None:
    photo = gps_photo()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert PLACE.encode() in photo
    attachment = world.discord.cdn.add("holiday.jpg", photo, "image/jpeg")
    itx = await world.discord.slash(
        "alice",
        "general",
        "wan-i2v-flash",
        {"prompt": "waves roll in"},
        attachments={"image": attachment},
    )
    job_id = await queued(itx)
    status = await status_of(world, job_id)
    job = await world.wait_job(job_id, JobState.RUNNING, JobState.SUCCEEDED, JobState.DELIVERED)

    [create] = [r for r in world.creates() if r.task_id == job.task_id]
    mime, sent = decode_data_uri(create.body["image"])
    assert mime == "image/jpeg"
    assert_no_location(sent)
    [preview] = status.attachments
    posted = world.discord.attachment_bytes(preview)
    assert_no_location(posted)
    assert posted == sent
    # Nothing else changed: the same compressed picture, not a re-encode.
    scan = photo.index(b"\xff\xda")
    assert sent.endswith(photo[scan:])
    await world.wait_job(job_id, JobState.DELIVERED)


async def test_a_member_at_their_job_limit_is_refused_before_the_image_is_downloaded(
    world: World,
) -> None:
    running = await world.discord.slash("bob", "general", "wan-t2v", {"prompt": "a slow dawn"})
    first = await queued(running)
    await world.wait_job(first, JobState.RUNNING)
    downloads = len(world.discord.cdn.downloads)
    creates = len(world.creates())

    attachment = world.discord.cdn.add("frame.jpg", gps_photo(), "image/jpeg")
    itx = await world.discord.slash(
        "bob",
        "general",
        "wan-i2v-flash",
        {"prompt": "the lights flicker"},
        attachments={"image": attachment},
    )
    reply = await reply_of(itx)
    assert reply.ephemeral
    assert reply.content == (
        "You already have 1 generation(s) running; the limit is 1. "
        "Wait for one to finish or cancel one."
    )
    assert len(world.discord.cdn.downloads) == downloads  # the attachment was never fetched
    assert len(world.creates()) == creates
    cancel = await world.discord.slash("bob", "general", "jobs cancel", {"job": first})
    await reply_of(cancel)
    await world.wait_job(first, JobState.CANCELLED)
