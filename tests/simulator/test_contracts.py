"""The simulator's own contracts: where they follow the documents rather than the bot's catalog."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from bot.simulator import DEFAULT_MULEROUTER_KEY, DEFAULT_VTRIX_KEY, SimulatorServer
from bot.simulator.contracts import ENDPOINTS, MULEROUTER, VTRIX, Refused, validate

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]
MULE = {"Authorization": f"Bearer {DEFAULT_MULEROUTER_KEY}"}
VTRIX_KEY = {"Authorization": f"Bearer {DEFAULT_VTRIX_KEY}"}
IMAGE = "https://example.com/frame.png"
REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_filled_in_as_upstream_reads_them() -> None:
    record = validate(MULEROUTER["wan2.5-i2i-preview"], {"prompt": "hat", "images": [IMAGE]})
    assert record == {
        "prompt": "hat",
        "images": [IMAGE],
        "size": "1280*1280",
        "n": 4,  # upstream's default, which is why the bot always sends n
        "prompt_extend": False,
        "safety_filter": True,
    }


def test_vtrix_truncates_long_prompts_instead_of_refusing() -> None:
    body = {"model": "wan22_i2v_flash", "input": {"prompt": "x" * 900, "img_url": IMAGE}}
    record = validate(VTRIX["wan22_i2v_flash"], body)
    assert record["prompt"] == "x" * 800
    assert (record["resolution"], record["duration"], record["watermark"]) == ("720P", 5, False)


def test_documented_relations_are_accepted_not_refused() -> None:
    wan26 = MULEROUTER["wan2.6-i2v"]
    base = {"prompt": "a cat", "image": IMAGE}
    # Only takes effect with prompt_extend; upstream accepts and ignores it.
    assert validate(wan26, {**base, "shot_type": "multi", "prompt_extend": False})
    # audio_url overrides the audio flag.
    assert validate(wan26, {**base, "audio_url": "https://e/a.mp3", "audio": False})
    # The example's spelling of shot_type is read as shot_type.
    assert validate(wan26, {**base, "multi_shots": "multi"})["shot_type"] == "multi"
    # Documented "| null": the default applies.
    assert validate(wan26, {**base, "audio": None})["audio"] is True


def test_every_problem_is_named_with_its_place() -> None:
    body = {
        "model": "wan22_i2v_flash",
        "input": {"img_url": "frame.png", "colour": "red"},
        "parameters": {"duration": 7, "seed": -1, "watermark": "no"},
        "extra": 1,
    }
    with pytest.raises(Refused) as caught:
        validate(VTRIX["wan22_i2v_flash"], body)
    text = " ".join(caught.value.problems)
    for place in (
        "extra",
        "input.colour",
        "input.img_url",
        "parameters.duration",
        "parameters.seed",
        "parameters.watermark",
    ):
        assert place in text
    assert len(caught.value.problems) == 6


@pytest.mark.parametrize(
    ("image", "accepted"),
    [
        ("data:image/png;base64,iVBORw0KGgo=", True),
        ("data:image/jpeg;base64,/9j/4AAQ", True),
        # The contract reads the shape only (the letters and =); decoding is the task's part.
        ("data:image/png;base64,iVBO=Rw0K", True),
        ("data:image/png;base64,", False),
        ("data:image/png;base64,iVBO Rw0K", False),
        ("data:image/png;base64,iVBOR\u00e9w0K", False),
        ("data:image/tiff;base64,iVBORw0KGgo=", False),
        ("data:image/png,iVBORw0KGgo=", False),
        ("data:image/png;base64,iVBORw0KGgo=\n", False),
    ],
)
def test_an_inline_image_is_read_for_its_format_and_base64_shape(
    image: str, accepted: bool
) -> None:
    body = {"prompt": "waves", "image": image}
    if accepted:
        assert validate(MULEROUTER["wan2.6-i2v"], body)["image"] == image
    else:
        with pytest.raises(Refused, match=r"image must be an http\(s\) URL or a data:image/"):
            validate(MULEROUTER["wan2.6-i2v"], body)


def test_types_are_not_coerced() -> None:
    t2v = MULEROUTER["wan2.2-t2v-plus"]
    for field, value in (("duration", "5"), ("seed", 1.0), ("prompt_extend", 1), ("seed", True)):
        with pytest.raises(Refused):
            validate(t2v, {"prompt": "cat", field: value})


def test_i2i_size_must_be_width_star_height() -> None:
    i2i = MULEROUTER["wan2.5-i2i-preview"]
    for size in ("1280x1280", "1280 * 1280", "*1280", "1280*0"):
        with pytest.raises(Refused):
            validate(i2i, {"prompt": "hat", "images": [IMAGE], "size": size})


async def test_i2i_without_n_makes_and_bills_four_images(
    simulator: SimulatorServer, sim_session: aiohttp.ClientSession
) -> None:
    url = simulator.base_url + "/vendors/alibaba/v1/wan2.5-i2i-preview/generation"
    body = {"prompt": "a hat", "images": [IMAGE], "size": "1024*1024"}
    async with sim_session.post(url, json=body, headers=MULE) as resp:
        assert resp.status == 202
        task_id = (await resp.json())["task_info"]["id"]
    task = simulator.state.task(task_id)
    assert task is not None
    assert task.result_count == 4
    assert task.image_size == (1024, 1024)
    assert task.cost == Decimal("0.12")
    assert task.request["n"] == 4


async def test_vtrix_unknown_model_is_refused(
    simulator: SimulatorServer, sim_session: aiohttp.ClientSession
) -> None:
    body = {"model": "wan99", "input": {"img_url": IMAGE}}
    async with sim_session.post(
        simulator.base_url + "/model/v1/generation", json=body, headers=VTRIX_KEY
    ) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == "invalid_parameter"
    assert "wan22_i2v_flash" in error["message"]
    assert not simulator.state.tasks


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but - and _ dropped, spaces to -."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings
    }


def test_pointers_into_the_provider_docs_resolve() -> None:
    doc = (REPO / "docs" / "providers.md").read_text(encoding="utf-8")
    anchors = _anchors(doc)
    pointers = {(f"{e.key}.doc", e.doc.partition("#")[2]) for e in ENDPOINTS}
    for path in sorted((REPO / "bot" / "simulator").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        pointers |= {(path.name, a) for a in re.findall(r"docs/providers\.md#([\w-]+)", text)}
    pointers |= {("providers.md", a) for a in re.findall(r"\]\(#([\w-]+)\)", doc)}
    missing = sorted((where, anchor) for where, anchor in pointers if anchor not in anchors)
    assert not missing, f"no such heading in docs/providers.md: {missing}"
    assert "shared/api" not in " ".join(
        p.read_text(encoding="utf-8") for p in (REPO / "bot" / "simulator").glob("*.py")
    )
