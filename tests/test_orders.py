"""From options and images to a typed request: the one path both front ends take."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.catalog import RequestInvalid, WanI2I25Request, WanI2V26Request, spec_for
from bot.config import ProviderName
from bot.orders import (
    InputImage,
    OrderRefused,
    build_request,
    check_options,
    plain_options,
    prepare_images,
)

T2V = spec_for("wan2.2-t2v-plus", ProviderName.MULEROUTER)
I2V = spec_for("wan2.6-i2v", ProviderName.MULEROUTER)
I2I = spec_for("wan2.5-i2i-preview", ProviderName.MULEROUTER)
FLASH_VTRIX = spec_for("wan2.2-i2v-flash", ProviderName.VTRIX)


def png(width: int, height: int, mode: str = "RGB") -> InputImage:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "red").save(buffer, "PNG")
    return InputImage(f"{width}x{height}.png", buffer.getvalue())


def test_options_left_out_are_dropped() -> None:
    assert plain_options({"prompt": "x", "seed": None, "prompt_extend": False}) == {
        "prompt": "x",
        "prompt_extend": False,
    }


def test_an_option_the_serving_provider_lacks_is_refused_by_name() -> None:
    check_options(T2V, {"prompt": "x", "size": "832*480"})
    with pytest.raises(OrderRefused) as refused:
        check_options(FLASH_VTRIX, {"prompt": "x", "template": "solaron", "safety_filter": True})
    assert str(refused.value) == (
        "safety filter, template can't be used here: this server runs wan2.2-i2v-flash on "
        "vtrix, which has no such option. Leave it out."
    )


async def test_images_become_data_uris_in_their_fields() -> None:
    images = await prepare_images(I2V, {"image": [png(640, 480)], "last_frame": [png(640, 480)]})
    request = build_request(I2V, {"prompt": "waves"}, images)
    assert isinstance(request, WanI2V26Request)
    assert request.image.startswith("data:image/png;base64,")
    assert request.last_frame is not None
    assert [item.preview_name for item in images] == ["input-image-1.png", "input-last_frame-1.png"]


async def test_a_list_field_keeps_every_image_in_order() -> None:
    sources = {"images": [png(400, 400), png(500, 500), png(600, 600)]}
    images = await prepare_images(I2I, sources)
    request = build_request(I2I, {"prompt": "autumn"}, images)
    assert isinstance(request, WanI2I25Request)
    assert len(request.images) == 3
    assert [item.source.name for item in images] == ["400x400.png", "500x500.png", "600x600.png"]


async def test_repairs_are_reported_and_unusable_images_refused() -> None:
    [flattened] = await prepare_images(I2V, {"image": [png(640, 480, "RGBA")]})
    assert flattened.image.notes, "transparency flattening should be reported"
    with pytest.raises(OrderRefused, match=r"too small|at least"):
        await prepare_images(I2V, {"image": [png(100, 100)]})
    with pytest.raises(OrderRefused, match="takes no image"):
        await prepare_images(T2V, {"image": [png(640, 480)]})


def test_limits_of_the_catalog_name_each_problem() -> None:
    with pytest.raises(RequestInvalid) as invalid:
        build_request(T2V, {"prompt": "x" * 801, "size": "1*1"})
    assert len(invalid.value.problems) == 2
