"""From options and images to a typed request: the one path both front ends take."""

from __future__ import annotations

import base64
import io
import typing

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
    request, media = build_request(I2V, {"prompt": "waves"}, images)
    assert isinstance(request, WanI2V26Request)
    assert request.image.startswith("data:image/png;base64,")
    assert request.last_frame is not None
    assert [item.preview_name for item in images] == ["input-image-1.png", "input-last_frame-1.png"]
    # Each URI with the checked bytes it encodes, so storing the job need not decode it back.
    assert media == {request.image: images[0].image.raw, request.last_frame: images[1].image.raw}
    for uri, raw in media.items():
        assert base64.b64decode(uri.partition(",")[2]) == raw


async def test_a_list_field_keeps_every_image_in_order() -> None:
    sources = {"images": [png(400, 400), png(500, 500), png(600, 600)]}
    images = await prepare_images(I2I, sources)
    request, media = build_request(I2I, {"prompt": "autumn"}, images)
    assert isinstance(request, WanI2I25Request)
    assert len(request.images) == 3
    assert [media[uri] for uri in request.images] == [item.image.raw for item in images]
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


# --- free text: cleaned, or refused before anything is sent -----------------------------------


def test_check_options_returns_the_fields_with_their_text_cleaned() -> None:
    fields = {"prompt": "\u202ea cat\u202c  surfing\n\n\n", "negative_prompt": "blur\u200bry"}
    cleaned = check_options(T2V, {**fields, "seed": 5})
    assert cleaned == {"prompt": "a cat  surfing", "negative_prompt": "blurry", "seed": 5}
    assert fields["prompt"] == "\u202ea cat\u202c  surfing\n\n\n"  # the caller's dict untouched


@pytest.mark.parametrize("spec", [T2V, I2V, I2I, FLASH_VTRIX], ids=lambda spec: spec.key)
@pytest.mark.parametrize("prompt", ["", "   ", "\u00a0\u3000", "\u200b\u200d", "\u202e"])
def test_a_blank_prompt_is_refused_on_every_model(spec: object, prompt: str) -> None:
    with pytest.raises(OrderRefused) as refused:
        check_options(spec, {"prompt": prompt})  # type: ignore[arg-type]
    assert str(refused.value) == "The prompt is empty: describe what to generate."


def test_a_blank_negative_prompt_is_left_out() -> None:
    assert check_options(T2V, {"prompt": "x", "negative_prompt": " \u200b "}) == {"prompt": "x"}


@pytest.mark.parametrize(
    ("spec", "limit"), [(T2V, 800), (FLASH_VTRIX, 800), (I2V, 2000), (I2I, 2000)]
)
def test_ten_thousand_emoji_are_refused_with_the_models_limit(spec: object, limit: int) -> None:
    with pytest.raises(OrderRefused) as refused:
        check_options(spec, {"prompt": "\U0001f525" * 10_000})  # type: ignore[arg-type]
    assert str(refused.value).startswith(
        f"The prompt is too long: 10000 characters; the limit is {limit}."
    )


def test_the_negative_prompt_limit_comes_from_the_catalog() -> None:
    with pytest.raises(OrderRefused, match="negative prompt is too long: 501 characters; the lim"):
        check_options(I2V, {"prompt": "x", "negative_prompt": "n" * 501})


def test_every_free_text_field_of_the_catalog_is_cleaned() -> None:
    """A new free-text field in the catalog must be added to bot.prompts.TEXT_FIELDS."""
    from bot.catalog import CATALOG
    from bot.prompts import TEXT_FIELDS

    def takes_text(annotation: object) -> bool:
        if annotation is str:
            return True
        if typing.get_origin(annotation) in (list, tuple):
            return False
        return any(takes_text(arg) for arg in typing.get_args(annotation))

    for spec in CATALOG:
        for name, info in spec.request_type.model_fields.items():
            free_text = takes_text(info.annotation)
            media = name in spec.request_type.media_fields()
            formatted = name in ("size", "template")  # checked by their own patterns
            if free_text and not media and not formatted:
                assert name in TEXT_FIELDS, f"{spec.key}.{name}"
