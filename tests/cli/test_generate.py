"""``python -m bot generate`` run as a subprocess, against the simulator, for every model.

Two ways to reach the simulator:

- ``--simulate``: the CLI starts one in its own process (no key, no network), exactly what a
  developer runs on a fresh machine;
- an in-process :class:`~bot.simulator.SimulatorServer` (the ``make_simulator`` fixture) with the
  subprocess's environment pointing at it, so the test can read what was sent upstream
  (``simulator.state.requests``) and steer failures (keys, balance, failure rate).

The subprocess never sees the developer's own settings: every ``DISCORD_``, ``MULEROUTER_``,
``VTRIX_``, ``WAN_`` and ``WANBOT_`` variable is removed, and it runs in ``tmp_path`` (no ``.env``).
"""

from __future__ import annotations

import base64
import io
import re
import struct
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.config import ProviderName
from bot.simulator import (
    DEFAULT_MULEROUTER_KEY,
    DEFAULT_VTRIX_KEY,
    RecordedRequest,
    SimulatorServer,
)
from bot.simulator.media import render_png, sample_mp4
from tests.cli.support import Run, clean_env, run_bot

MakeSimulator = Callable[..., Awaitable[SimulatorServer]]  # the make_simulator fixture

FAST = ("--simulator-speed", "200")
T2V_PATH = "/vendors/alibaba/v1/wan2.2-t2v-plus/generation"
I2V26_PATH = "/vendors/alibaba/v1/wan2.6-i2v/generation"
FLASH_PATH = "/vendors/alibaba/v1/wan2.2-i2v-flash/generation"
I2I_PATH = "/vendors/alibaba/v1/wan2.5-i2i-preview/generation"
VTRIX_CREATE = "/model/v1/generation"
T2V_SIZES = "832*480, 480*832, 624*624, 1920*1080, 1080*1920, 1440*1440, 1632*1248 or 1248*1632"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def sim_env(server: SimulatorServer, **extra: str) -> dict[str, str]:
    """Both providers pointed at ``server`` with its default keys, and fast polling."""
    settings = {
        "MULEROUTER_BASE_URL": server.base_url,
        "MULEROUTER_API_KEY": DEFAULT_MULEROUTER_KEY,
        "VTRIX_BASE_URL": server.base_url,
        "VTRIX_API_KEY": DEFAULT_VTRIX_KEY,
        "WANBOT_POLL_MIN_SECONDS": "0.1",
        "WANBOT_POLL_MAX_SECONDS": "0.2",
    }
    return clean_env(**{**settings, **extra})


def write_png(
    path: Path, size: tuple[int, int], color: tuple[int, ...] = (40, 120, 200), mode: str = "RGB"
) -> Path:
    Image.new(mode, size, color).save(path, format="PNG")
    return path


def data_uri(path: Path) -> str:
    """What the CLI sends for an image it needs not repair: the file's bytes, unchanged."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def mp4_boxes(data: bytes) -> list[str]:
    """The top-level ISO-BMFF box types; fails unless the boxes tile the file exactly."""
    boxes: list[str] = []
    offset = 0
    while offset < len(data):
        assert len(data) - offset >= 8, f"truncated box header at {offset}"
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        assert size >= 8, f"box {kind!r} at {offset} has impossible size {size}"
        assert offset + size <= len(data), f"box {kind!r} at {offset} runs past the end"
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def assert_playable_mp4(path: Path) -> None:
    boxes = mp4_boxes(path.read_bytes())
    assert boxes[0] == "ftyp"
    assert "moov" in boxes
    assert "mdat" in boxes


def task_id_of(run: Run) -> str:
    ids = [
        m.group(1)
        for line in run.err_lines
        if (m := re.fullmatch(r"task ([0-9a-f-]{36}) accepted", line))
    ]
    assert len(ids) == 1, run.stderr
    return ids[0]


def result_paths(run: Run, cwd: Path) -> list[Path]:
    return [cwd / line for line in run.stdout.splitlines()]


def assert_one_error(run: Run) -> str:
    """Exit 1, nothing on stdout, and one ``error:`` line, last on stderr; returns that line."""
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.err_lines
    assert lines, "stderr is empty"
    assert lines[-1].startswith("error: "), run.stderr
    assert [line for line in lines if line.startswith("error")] == [lines[-1]], run.stderr
    return lines[-1]


def creates(server: SimulatorServer) -> list[RecordedRequest]:
    return [r for r in server.state.requests if r.method == "POST" and r.provider is not None]


# ---------------------------------------------------------------------------------------------
# 1. --simulate, every model
# ---------------------------------------------------------------------------------------------


async def test_fresh_machine_t2v_example_leaves_a_playable_mp4(tmp_path: Path) -> None:
    """The README's first command, verbatim: default speed, default ./out."""
    run = await run_bot(
        "generate", "wan2.2-t2v-plus", "--simulate", "--prompt", "a cat surfing", cwd=tmp_path
    )

    assert run.returncode == 0, run.stderr
    task_id = task_id_of(run)
    assert run.stdout == f"out/wan22-t2v-plus-{task_id[:8]}-1.mp4\n"
    [video] = result_paths(run, tmp_path)
    assert sorted((tmp_path / "out").iterdir()) == [video]
    assert_playable_mp4(video)
    assert video.read_bytes() == sample_mp4()
    lines = run.err_lines
    assert lines[0] == "submitting wan2.2-t2v-plus to mulerouter (estimated $0.10)"
    assert re.fullmatch(r"\[fetching result\] · elapsed \d+:\d\d", lines[-2]), lines
    assert lines[-1] == "cost: $0.10 (estimated)"


@pytest.mark.parametrize(
    ("model", "make_args", "estimate"),
    [
        pytest.param(
            "wan2.6-i2v",
            lambda d: [
                "--prompt",
                "the cat jumps",
                "--image",
                str(write_png(d / "first.png", (800, 600))),
                "--last-frame",
                str(write_png(d / "last.png", (800, 600), (200, 40, 40))),
                "--duration",
                "10",
                "--resolution",
                "1080P",
                "--shot-type",
                "multi",
            ],
            "$1.50",
            id="wan2.6-i2v",
        ),
        pytest.param(
            "wan2.2-i2v-flash",
            lambda d: [
                "--prompt",
                "the cat blinks",
                "--image",
                str(write_png(d / "cat.png", (800, 600))),
            ],
            "$0.07",  # 480P, the bot's default
            id="wan2.2-i2v-flash",
        ),
    ],
)
async def test_simulate_image_to_video(
    tmp_path: Path, model: str, make_args: Callable[[Path], list[str]], estimate: str
) -> None:
    out = tmp_path / "videos"
    run = await run_bot(
        "generate",
        model,
        *make_args(tmp_path),
        "--out",
        str(out),
        "--simulate",
        *FAST,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stderr
    task_id = task_id_of(run)
    stem = model.replace(".", "")
    assert run.stdout == f"{out}/{stem}-{task_id[:8]}-1.mp4\n"
    [video] = result_paths(run, tmp_path)
    assert list(out.iterdir()) == [video]
    assert_playable_mp4(video)
    assert video.read_bytes() == sample_mp4()
    assert not [line for line in run.err_lines if line.startswith("note:")]
    assert run.err_lines[0] == f"submitting {model} to mulerouter (estimated {estimate})"
    assert run.err_lines[-1] == f"cost: {estimate} (estimated)"


async def test_simulate_image_edit_three_distinct_pngs(tmp_path: Path) -> None:
    first = write_png(tmp_path / "a.png", (800, 600))
    second = write_png(tmp_path / "b.png", (640, 480), (220, 180, 20))
    run = await run_bot(
        "generate",
        "wan2.5-i2i-preview",
        "--prompt",
        "make them one",
        "--image",
        str(first),
        "--image",
        str(second),
        "--n",
        "3",
        "--size",
        "1024*1024",
        "--out",
        "edits",
        "--simulate",
        *FAST,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stderr
    task_id = task_id_of(run)
    assert run.stdout.splitlines() == [
        f"edits/wan25-i2i-preview-{task_id[:8]}-{index}.png" for index in (1, 2, 3)
    ]
    paths = result_paths(run, tmp_path)
    assert sorted((tmp_path / "edits").iterdir()) == paths
    pixels = []
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == (1024, 1024)
            image.load()
            pixels.append(image.tobytes())
        # Exactly the simulator's rendering of this task's image `index`.
        assert path.read_bytes() == render_png(task_id, index, 1024, 1024)
    assert len(set(pixels)) == 3
    assert run.err_lines[0] == "submitting wan2.5-i2i-preview to mulerouter (estimated $0.09)"
    assert run.err_lines[-1] == "cost: $0.09 (estimated)"


# ---------------------------------------------------------------------------------------------
# 2. Vtrix, against an in-process simulator
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "inputs", "parameters", "billed"),
    [
        pytest.param(
            [],
            {},
            {"resolution": "480P", "duration": 5, "prompt_extend": True, "watermark": False},
            "$0.07",
            id="defaults",
        ),
        pytest.param(
            [
                "--resolution",
                "480P",
                "--watermark",
                "--seed",
                "9",
                "--no-prompt-extend",
                "--negative-prompt",
                "blurry",
            ],
            {"negative_prompt": "blurry"},
            {
                "resolution": "480P",
                "duration": 5,
                "prompt_extend": False,
                "watermark": True,
                "seed": 9,
            },
            "$0.07",
            id="all-flags",
        ),
    ],
)
async def test_flash_via_vtrix_reports_billed_cost_and_sends_nested_body(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    flags: list[str],
    inputs: dict[str, Any],
    parameters: dict[str, Any],
    billed: str,
) -> None:
    sim = await make_simulator()
    image = write_png(tmp_path / "cat.png", (800, 600))
    # Our own price table says 0.05/s, so the estimate ($0.25) differs from what Vtrix bills.
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices."wan2.2-i2v-flash"]\n480P = "0.05"\n720P = "0.05"\n')
    env = sim_env(sim, WAN_I2V_FLASH_PROVIDER="vtrix", WANBOT_PRICE_TABLE=str(prices))

    run = await run_bot(
        "generate",
        "wan2.2-i2v-flash",
        "--prompt",
        "the cat blinks",
        "--image",
        str(image),
        *flags,
        "--out",
        "out",
        cwd=tmp_path,
        env=env,
    )

    assert run.returncode == 0, run.stderr
    task_id = task_id_of(run)
    assert run.stdout == f"out/wan22-i2v-flash-{task_id[:8]}-1.mp4\n"
    assert_playable_mp4(tmp_path / run.stdout.strip())
    assert run.err_lines[0] == "submitting wan2.2-i2v-flash to vtrix (estimated $0.25)"
    assert run.err_lines[-1] == f"cost: {billed} (billed)"

    [create] = creates(sim)
    assert create.path == VTRIX_CREATE
    assert create.provider is ProviderName.VTRIX
    assert create.auth_ok is True
    assert create.status == 200
    assert create.task_id == task_id
    assert create.body == {
        "model": "wan22_i2v_flash",
        "input": {"prompt": "the cat blinks", **inputs, "img_url": data_uri(image)},
        "parameters": parameters,
    }
    assert create.body["input"]["img_url"].startswith("data:image/png;base64,")
    polls = [r for r in sim.state.requests if r.method == "GET" and r.provider is not None]
    assert polls
    assert {(r.path, r.auth_ok, r.status) for r in polls} == {
        (f"/model/v1/generation/task/{task_id}", True, 200)
    }
    media = [r for r in sim.state.requests if r.path.startswith("/media/")]
    assert [(r.path, r.status) for r in media] == [(f"/media/video/{task_id}.mp4", 200)]
    assert sim.state.spent == Decimal(billed.removeprefix("$"))


# ---------------------------------------------------------------------------------------------
# 3. Exact MuleRouter bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "body", "estimate"),
    [
        pytest.param(
            [],
            {"prompt": "a cat surfing", "size": "832*480", "duration": 5, "prompt_extend": True},
            "$0.10",
            id="defaults",
        ),
        pytest.param(
            ["--seed", "7", "--negative-prompt", "blur", "--no-prompt-extend", "--size", "832*480"],
            {
                "prompt": "a cat surfing",
                "negative_prompt": "blur",
                "size": "832*480",
                "duration": 5,
                "prompt_extend": False,
                "seed": 7,
            },
            "$0.10",
            id="flags",
        ),
    ],
)
async def test_t2v_exact_upstream_body(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    flags: list[str],
    body: dict[str, Any],
    estimate: str,
) -> None:
    sim = await make_simulator()
    run = await run_bot(
        "generate",
        "wan2.2-t2v-plus",
        "--prompt",
        "a cat surfing",
        *flags,
        cwd=tmp_path,
        env=sim_env(sim),
    )

    assert run.returncode == 0, run.stderr
    task_id = task_id_of(run)
    [create] = creates(sim)
    assert create.path == T2V_PATH
    assert create.provider is ProviderName.MULEROUTER
    assert create.auth_ok is True
    assert create.status == 202
    assert create.body == body
    polls = [r for r in sim.state.requests if r.method == "GET" and r.provider is not None]
    assert polls
    assert {(r.path, r.auth_ok, r.status) for r in polls} == {(f"{T2V_PATH}/{task_id}", True, 200)}
    assert run.err_lines[0] == f"submitting wan2.2-t2v-plus to mulerouter (estimated {estimate})"
    assert run.err_lines[-1] == f"cost: {estimate} (estimated)"
    [video] = result_paths(run, tmp_path)
    assert video.parent == tmp_path / "out"
    assert_playable_mp4(video)


async def test_i2v26_exact_upstream_body(tmp_path: Path, make_simulator: MakeSimulator) -> None:
    sim = await make_simulator()
    first = write_png(tmp_path / "first.png", (800, 600))
    last = write_png(tmp_path / "last.png", (800, 600), (200, 40, 40))
    run = await run_bot(
        "generate",
        "wan2.6-i2v",
        "--prompt",
        "the cat jumps",
        "--image",
        str(first),
        "--last-frame",
        str(last),
        "--duration",
        "15",
        "--resolution",
        "720P",
        "--shot-type",
        "multi",
        "--audio-url",
        "https://example.com/voice.mp3",
        "--seed",
        "42",
        "--no-safety-filter",
        cwd=tmp_path,
        env=sim_env(sim),
    )

    assert run.returncode == 0, run.stderr
    [create] = creates(sim)
    assert create.path == I2V26_PATH
    assert create.body == {
        "prompt": "the cat jumps",
        "image": data_uri(first),
        "last_frame": data_uri(last),
        "resolution": "720P",
        "duration": 15,
        "prompt_extend": True,
        "shot_type": "multi",
        "audio": True,
        "audio_url": "https://example.com/voice.mp3",
        "seed": 42,
        "safety_filter": False,
    }
    assert run.err_lines[-1] == "cost: $1.50 (estimated)"  # 15 s at $0.10/s (720P)


async def test_i2i_exact_upstream_body(tmp_path: Path, make_simulator: MakeSimulator) -> None:
    sim = await make_simulator()
    first = write_png(tmp_path / "a.png", (800, 600))
    second = write_png(tmp_path / "b.png", (640, 480), (220, 180, 20))
    run = await run_bot(
        "generate",
        "wan2.5-i2i-preview",
        "--prompt",
        "merge",
        "--image",
        str(first),
        "--image",
        str(second),
        cwd=tmp_path,
        env=sim_env(sim),
    )

    assert run.returncode == 0, run.stderr
    [create] = creates(sim)
    assert create.path == I2I_PATH
    # n is always sent (upstream's own default is 4, which would bill four images).
    assert create.body == {
        "prompt": "merge",
        "images": [data_uri(first), data_uri(second)],
        "size": "1280*1280",
        "n": 1,
        "prompt_extend": False,
        "safety_filter": True,
    }
    [image] = result_paths(run, tmp_path)
    with Image.open(image) as decoded:
        assert decoded.size == (1280, 1280)
    assert run.err_lines[-1] == "cost: $0.03 (estimated)"


# ---------------------------------------------------------------------------------------------
# 4. Failures: exit 1, one error line, and nothing sent when the fault is ours
# ---------------------------------------------------------------------------------------------


def _t2v_long(d: Path) -> list[str]:
    return ["wan2.2-t2v-plus", "--prompt", "x" * 801]


def _t2v_bad_size(d: Path) -> list[str]:
    return ["wan2.2-t2v-plus", "--prompt", "a cat", "--size", "1000*1000"]


def _i2i_bad_size(d: Path) -> list[str]:
    return [
        "wan2.5-i2i-preview",
        "--prompt",
        "a cat",
        "--image",
        str(write_png(d / "a.png", (800, 600))),
        "--size",
        "100*100",
    ]


def _small_image(d: Path) -> list[str]:
    return [
        "wan2.6-i2v",
        "--prompt",
        "a cat",
        "--image",
        str(write_png(d / "small.png", (200, 200))),
    ]


def _missing_image(d: Path) -> list[str]:
    return ["wan2.2-i2v-flash", "--prompt", "a cat", "--image", str(d / "missing.png")]


def _watermark_on_mulerouter(d: Path) -> list[str]:
    return [
        "wan2.2-i2v-flash",
        "--prompt",
        "a cat",
        "--image",
        str(write_png(d / "a.png", (800, 600))),
        "--watermark",
    ]


def _multi_without_extend(d: Path) -> list[str]:
    return [
        "wan2.6-i2v",
        "--prompt",
        "a cat",
        "--image",
        str(write_png(d / "a.png", (800, 600))),
        "--shot-type",
        "multi",
        "--no-prompt-extend",
    ]


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        pytest.param(
            _t2v_long, "The prompt is too long: 801 characters; the limit is 800.", id="prompt-801"
        ),
        pytest.param(_t2v_bad_size, f"The size must be one of: {T2V_SIZES}.", id="t2v-size"),
        pytest.param(
            _i2i_bad_size,
            "The size 100*100 has 10,000 pixels; it must have between "
            "768*768 (589,824) and 1440*1440 (2,073,600).",
            id="i2i-size",
        ),
        pytest.param(
            _small_image,
            "small.png is 200×200 pixels; this model needs at least 360 "
            "pixels on each side. Use a larger image.",
            id="image-too-small",
        ),
        pytest.param(
            _missing_image,
            "cannot read {d}/missing.png: No such file or directory",
            id="unreadable-image",
        ),
        pytest.param(
            _watermark_on_mulerouter,
            "--watermark is not available for wan2.2-i2v-flash on mulerouter",
            id="watermark-on-mulerouter",
        ),
        pytest.param(
            _multi_without_extend,
            "Shot type 'multi' only works with prompt extend "
            "on: turn prompt extend on, or choose 'single'.",
            id="multi-no-extend",
        ),
    ],
)
async def test_refused_before_anything_is_sent(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    make_args: Callable[[Path], list[str]],
    message: str,
) -> None:
    sim = await make_simulator()
    run = await run_bot("generate", *make_args(tmp_path), cwd=tmp_path, env=sim_env(sim))

    assert_one_error(run)
    assert run.stderr == f"error: {message.format(d=tmp_path)}\n"
    assert sim.state.requests == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("provider", "model_args", "env_key", "path"),
    [
        pytest.param(
            "mulerouter",
            ["wan2.2-t2v-plus", "--prompt", "a cat"],
            "MULEROUTER_API_KEY",
            T2V_PATH,
            id="mulerouter",
        ),
        pytest.param(
            "vtrix",
            ["wan2.2-i2v-flash", "--prompt", "a cat", "--image", "{img}"],
            "VTRIX_API_KEY",
            VTRIX_CREATE,
            id="vtrix",
        ),
    ],
)
async def test_wrong_api_key(
    tmp_path: Path,
    make_simulator: MakeSimulator,
    provider: str,
    model_args: list[str],
    env_key: str,
    path: str,
) -> None:
    sim = await make_simulator()
    image = write_png(tmp_path / "a.png", (800, 600))
    secret = "not-the-key-5f3a9c"
    env = sim_env(sim, WAN_I2V_FLASH_PROVIDER=provider, **{env_key: secret})
    args = [arg.format(img=image) for arg in model_args]
    run = await run_bot("generate", *args, cwd=tmp_path, env=env)

    line = assert_one_error(run)
    assert line.startswith(
        "error: The bot's API key for the generation service was refused. "
        "An admin needs to check the key; nothing was charged."
    )
    assert "HTTP 401" in line
    assert secret not in run.stderr
    [create] = creates(sim)
    assert (create.path, create.auth_ok, create.status) == (path, False, 401)
    assert sim.state.tasks == {}


async def test_task_failure_reports_the_providers_reason(
    tmp_path: Path, make_simulator: MakeSimulator
) -> None:
    sim = await make_simulator(failure_rate=1.0)
    run = await run_bot(
        "generate", "wan2.2-t2v-plus", "--prompt", "a cat", cwd=tmp_path, env=sim_env(sim)
    )

    line = assert_one_error(run)
    [task] = sim.state.tasks.values()
    assert task.error is not None
    assert task_id_of(run) == task.id
    reason = task.error.detail
    if "violation" in reason:
        expected = (
            f"error: The provider refused the content ({reason}). Try rewording the "
            "prompt or using another image."
        )
    else:
        expected = f"error: The provider could not generate this ({reason})."
    assert line == (
        f"{expected} (code {task.error.code}) Nothing should be billed for a failed task."
    )
    assert re.fullmatch(r"\[failed\] · elapsed \d+:\d\d", run.err_lines[-2]), run.stderr
    assert not (tmp_path / "out").exists()


async def test_missing_mulerouter_key(tmp_path: Path, make_simulator: MakeSimulator) -> None:
    sim = await make_simulator()
    env = sim_env(sim)
    del env["MULEROUTER_API_KEY"]
    run = await run_bot("generate", "wan2.2-t2v-plus", "--prompt", "a cat", cwd=tmp_path, env=env)

    assert_one_error(run)
    assert run.stderr == "error: MULEROUTER_API_KEY is not set: put the mulerouter key there.\n"
    assert sim.state.requests == []


async def test_missing_vtrix_key_when_vtrix_serves_flash(
    tmp_path: Path, make_simulator: MakeSimulator
) -> None:
    sim = await make_simulator()
    env = sim_env(sim, WAN_I2V_FLASH_PROVIDER="vtrix")
    del env["VTRIX_API_KEY"]
    image = write_png(tmp_path / "a.png", (800, 600))
    run = await run_bot(
        "generate", "wan2.2-i2v-flash", "--image", str(image), cwd=tmp_path, env=env
    )

    assert_one_error(run)
    assert run.stderr == "error: VTRIX_API_KEY is not set: put the vtrix key there.\n"
    assert sim.state.requests == []


async def test_insufficient_balance(tmp_path: Path, make_simulator: MakeSimulator) -> None:
    sim = await make_simulator(balance=Decimal(0))
    run = await run_bot(
        "generate", "wan2.2-t2v-plus", "--prompt", "a cat", cwd=tmp_path, env=sim_env(sim)
    )

    line = assert_one_error(run)
    assert line == (
        "error: The generation account is out of balance. An admin needs to top it "
        "up; nothing was charged. [mulerouter InsufficientBalance: HTTP 402: "
        "Insufficient balance]"
    )
    [create] = creates(sim)
    assert (create.path, create.auth_ok, create.status) == (T2V_PATH, True, 402)
    assert sim.state.tasks == {}
    assert sim.state.spent == 0


async def test_deadline_gives_up_with_the_task_id(
    tmp_path: Path, make_simulator: MakeSimulator
) -> None:
    sim = await make_simulator(speed=1.0)  # a 90 s task that really takes about 90 s
    env = sim_env(sim, WANBOT_VIDEO_DEADLINE_SECONDS="0.5")
    run = await run_bot("generate", "wan2.2-t2v-plus", "--prompt", "a cat", cwd=tmp_path, env=env)

    line = assert_one_error(run)
    [task] = sim.state.tasks.values()
    assert re.fullmatch(
        rf"error: no result after 0:0\d; gave up waiting for task {task.id}, which the "
        rf"provider accepted and may bill\.",
        line,
    ), line
    assert not (tmp_path / "out").exists()


async def test_unusable_out_dir_is_one_error_line(
    tmp_path: Path, make_simulator: MakeSimulator
) -> None:
    sim = await make_simulator()
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    run = await run_bot(
        "generate",
        "wan2.2-t2v-plus",
        "--prompt",
        "a cat",
        "--out",
        str(blocker),
        cwd=tmp_path,
        env=sim_env(sim),
    )

    line = assert_one_error(run)
    assert str(blocker) in line
    if creates(sim):
        # Submitted (and billed): the member must at least get the result link.
        [task] = sim.state.tasks.values()
        assert f"/media/video/{task.id}.mp4" in line


async def test_bad_simulator_speed_is_refused_cleanly(tmp_path: Path) -> None:
    run = await run_bot(
        "generate",
        "wan2.2-t2v-plus",
        "--prompt",
        "a cat",
        "--simulate",
        "--simulator-speed",
        "0",
        cwd=tmp_path,
    )

    assert run.returncode in (1, 2), run.stderr  # one error line, or argparse's usage error
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    assert run.err_lines[-1].endswith("must be more than 0") or "simulator-speed" in run.stderr


# ---------------------------------------------------------------------------------------------
# 5. Repair notes
# ---------------------------------------------------------------------------------------------


async def test_transparent_png_is_flattened_with_a_note(
    tmp_path: Path, make_simulator: MakeSimulator
) -> None:
    sim = await make_simulator()
    image = write_png(tmp_path / "cutout.png", (800, 600), (200, 20, 30, 0), mode="RGBA")
    run = await run_bot(
        "generate",
        "wan2.2-i2v-flash",
        "--prompt",
        "the cat blinks",
        "--image",
        str(image),
        cwd=tmp_path,
        env=sim_env(sim),
    )

    assert run.returncode == 0, run.stderr
    notes = [line for line in run.err_lines if line.startswith("note:")]
    assert notes == [
        "note: Flattened the transparent background onto white (the model does not "
        "accept transparency)."
    ]
    [create] = creates(sim)
    assert create.path == FLASH_PATH
    sent = create.body["image"]
    assert {k: v for k, v in create.body.items() if k != "image"} == {
        "prompt": "the cat blinks",
        "resolution": "480P",
        "duration": 5,
        "prompt_extend": True,
        "safety_filter": True,
    }
    head, _, payload = sent.partition(",")
    assert head == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as decoded:
        assert decoded.format == "PNG"
        assert decoded.size == (800, 600)
        assert decoded.mode == "RGB"
        assert not decoded.has_transparency_data
        assert decoded.getpixel((0, 0)) == (255, 255, 255)
        assert decoded.getextrema() == ((255, 255), (255, 255), (255, 255))
    assert run.err_lines[-1] == "cost: $0.07 (estimated)"
