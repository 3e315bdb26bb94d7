"""``python -m bot models``, ``--help``, ``run`` without a token, and ``simulator`` as a process.

Every command runs as a subprocess in ``tmp_path`` (no ``.env``) with the bot's own settings
removed from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.simulator import DEFAULT_MULEROUTER_KEY
from tests.cli.support import clean_env, run_bot


def blocks(text: str) -> dict[str, list[str]]:
    """The ``models`` listing as header line -> the lines under it."""
    out: dict[str, list[str]] = {}
    for block in text.strip("\n").split("\n\n"):
        header, *body = block.splitlines()
        out[header] = [line.rstrip() for line in body]
    return out


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

T2V = "wan2.2-t2v-plus via mulerouter: Wan 2.2 text to video (Plus)"
I2V26 = "wan2.6-i2v via mulerouter: Wan 2.6 image to video"
FLASH_MULE = "wan2.2-i2v-flash via mulerouter{}: Wan 2.2 image to video (Flash)"
FLASH_VTRIX = "wan2.2-i2v-flash via vtrix{}: Wan 2.2 image to video (Flash, via Vtrix)"
I2I = "wan2.5-i2i-preview via mulerouter: Wan 2.5 image edit (preview)"
SERVING = " (serving)"
NOT_SERVING = " (set WAN_I2V_FLASH_PROVIDER to use)"
VIDEO_INPUT = (
    "  input images: JPEG/PNG/BMP/WEBP, 360-2000 px per side, up to 10 MB (fixed where possible)"
)


async def test_models_lists_every_endpoint_with_limits_and_prices(tmp_path: Path) -> None:
    run = await run_bot("models", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    listing = blocks(run.stdout)
    assert list(listing) == [
        T2V,
        I2V26,
        FLASH_MULE.format(SERVING),
        FLASH_VTRIX.format(NOT_SERVING),
        I2I,
    ]

    assert listing[T2V] == [
        "  Text to a 5 s video, 480P or 1080P sizes.",
        "  result: video; price: $0.02/second at 480P, $0.10/second at 1080P",
        "    --prompt             required; at most 800 characters",
        "    --negative-prompt    at most 500 characters",
        "    --size               one of 832*480, 480*832, 624*624, 1920*1080, 1080*1920, "
        "1440*1440, 1632*1248, 1248*1632; default 1920*1080",
        "    --duration           one of 5; default 5",
        "    --prompt-extend      default on",
        "    --seed               0..2147483647",
    ]

    i2v = listing[I2V26]
    assert i2v[1] == "  result: video; price: $0.10/second at 720P, $0.15/second at 1080P"
    assert i2v[2] == VIDEO_INPUT
    assert "    --prompt             required; at most 2000 characters" in i2v
    assert "    --duration           one of 5, 10, 15; default 5" in i2v
    assert "    --shot-type          one of single, multi; default single" in i2v
    assert "    --resolution         one of 720P, 1080P; default 720P" in i2v
    assert "    --audio              default on" in i2v
    assert [line.split()[0] for line in i2v[3:]] == [
        "--prompt",
        "--image",
        "--last-frame",
        "--negative-prompt",
        "--resolution",
        "--duration",
        "--prompt-extend",
        "--shot-type",
        "--audio",
        "--audio-url",
        "--seed",
        "--safety-filter",
    ]

    flash = listing[FLASH_MULE.format(SERVING)]
    assert flash[1] == "  result: video; price: $0.014/second at 480P, $0.028/second at 720P"
    assert flash[2] == VIDEO_INPUT
    assert "    --resolution         one of 480P, 720P; default 720P" in flash
    assert "    --template           Video effect template name, e.g. `solaron`." in flash
    assert not any("--watermark" in line for line in flash)

    vtrix = listing[FLASH_VTRIX.format(NOT_SERVING)]
    assert vtrix[0] == ("  Fast image to a 5 s video, 480P or 720P; real progress and billed cost.")
    assert "    --prompt             at most 800 characters" in vtrix  # optional on Vtrix
    assert "    --watermark          default off" in vtrix
    assert not any("--template" in line for line in vtrix)

    i2i = listing[I2I]
    assert i2i[1] == "  result: images; price: $0.03/image"
    assert i2i[2] == (
        "  input images: JPEG/PNG/BMP/WEBP, 384-5000 px per side, up to 10 MB "
        "(fixed where possible)"
    )
    assert "    --image              required; up to 3 (repeat the flag)" in i2i
    assert "    --n                  1..4; default 1" in i2i
    assert "    --size               default 1280*1280" in i2i
    assert "    --prompt-extend      default off" in i2i


async def test_models_follows_flash_provider_and_price_table(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[prices."wan2.6-i2v"]\n720P = "0.12"\n\n[prices."wan2.5-i2i-preview"]\nimage = 0.045\n'
    )
    env = clean_env(WAN_I2V_FLASH_PROVIDER="vtrix", WANBOT_PRICE_TABLE=str(prices))
    run = await run_bot("models", cwd=tmp_path, env=env)

    assert run.returncode == 0, run.stderr
    listing = blocks(run.stdout)
    assert list(listing) == [
        T2V,
        I2V26,
        FLASH_MULE.format(NOT_SERVING),
        FLASH_VTRIX.format(SERVING),
        I2I,
    ]
    assert listing[I2V26][1] == (
        "  result: video; price: $0.12/second at 720P, $0.15/second at 1080P"
    )
    assert listing[I2I][1] == "  result: images; price: $0.045/image"


async def test_models_bad_price_table_is_one_error_line(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices."wan9-nope"]\nimage = "1"\n')
    run = await run_bot("models", cwd=tmp_path, env=clean_env(WANBOT_PRICE_TABLE=str(prices)))

    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == (
        f"error: {prices}: unknown model 'wan9-nope'; known: wan2.2-t2v-plus, "
        "wan2.6-i2v, wan2.2-i2v-flash, wan2.5-i2i-preview\n"
    )


# ---------------------------------------------------------------------------------------------
# --help
# ---------------------------------------------------------------------------------------------


async def test_top_level_help_lists_the_commands(tmp_path: Path) -> None:
    run = await run_bot("--help", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: python -m bot [-h] [--version] COMMAND ...\n")
    text = " ".join(run.stdout.split())  # argparse may wrap a long command name
    for command, summary in [
        ("run", "run the Discord bot (the default)"),
        ("generate", "run one generation from the terminal and download the result"),
        ("models", "list the models with their options, limits and prices"),
        ("backup", "copy the database consistently, even while the bot runs"),
        ("restore", "put a backup back (the bot must be stopped)"),
        ("doctor", "check the settings, database, provider keys and Discord token"),
        ("simulator", "serve simulated MuleRouter and Vtrix APIs on loopback"),
    ]:
        assert f"{command} {summary}" in text


async def test_generate_help_lists_every_model(tmp_path: Path) -> None:
    run = await run_bot("generate", "--help", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    models = re.findall(r"^    (wan[\w.-]+)", run.stdout, flags=re.MULTILINE)
    assert models == ["wan2.2-t2v-plus", "wan2.6-i2v", "wan2.2-i2v-flash", "wan2.5-i2i-preview"]


async def test_generate_i2v26_help_lists_its_options(tmp_path: Path) -> None:
    run = await run_bot("generate", "wan2.6-i2v", "--help", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: python -m bot generate wan2.6-i2v [-h]")
    flags = set(re.findall(r"^  (--[a-z-]+)", run.stdout, flags=re.MULTILINE))
    assert flags == {
        "--out",
        "--simulate",
        "--simulator-speed",
        "--prompt",
        "--image",
        "--last-frame",
        "--negative-prompt",
        "--resolution",
        "--duration",
        "--prompt-extend",
        "--shot-type",
        "--audio",
        "--audio-url",
        "--seed",
        "--safety-filter",
    }
    text = " ".join(run.stdout.split())
    assert "--shot-type VALUE one of single, multi; default single" in text
    assert "--duration VALUE one of 5, 10, 15; default 5" in text
    assert "--audio-url URL" in text
    assert "--last-frame PATH" in text


async def test_generate_flash_help_has_both_providers_options(tmp_path: Path) -> None:
    run = await run_bot("generate", "wan2.2-i2v-flash", "--help", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert "mulerouter options:" in run.stdout
    assert "vtrix options:" in run.stdout
    vtrix_section = run.stdout.split("vtrix options:", 1)[1]
    assert re.findall(r"^  (--[a-z-]+)", vtrix_section, flags=re.MULTILINE) == ["--watermark"]
    assert "--template TEXT" in run.stdout


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------

NO_TOKEN = (
    "error: DISCORD_TOKEN is not set: put the bot token from the Discord developer portal there.\n"
)


async def test_run_without_token_names_discord_token(tmp_path: Path) -> None:
    run = await run_bot("run", cwd=tmp_path)

    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == NO_TOKEN


async def test_no_command_means_run(tmp_path: Path) -> None:
    run = await run_bot(cwd=tmp_path)

    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == NO_TOKEN


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ({}, "MULEROUTER_API_KEY is not set: put the mulerouter key there."),
        (
            {"WAN_I2V_FLASH_PROVIDER": "vtrix"},
            "none of MULEROUTER_API_KEY, VTRIX_API_KEY is set: put a provider key there.",
        ),
    ],
)
async def test_run_without_any_usable_model_names_the_keys(
    tmp_path: Path, extra: dict[str, str], line: str
) -> None:
    # A missing key only switches its models off (tests/e2e/test_models_off.py); with no
    # model left there is nothing to serve.
    run = await run_bot("run", cwd=tmp_path, env=clean_env(DISCORD_TOKEN="tok", **extra))

    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == f"error: no model can run: {line}\n"


async def test_run_with_a_bad_setting_names_it_not_its_value(tmp_path: Path) -> None:
    env = clean_env(DISCORD_TOKEN="tok-secret-123", WAN_I2V_FLASH_PROVIDER="elsewhere")
    run = await run_bot("run", cwd=tmp_path, env=env)

    assert run.returncode == 1
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: setting WAN_I2V_FLASH_PROVIDER is invalid: ")
    assert "tok-secret-123" not in run.stderr
    assert "elsewhere" not in run.stderr


# ---------------------------------------------------------------------------------------------
# simulator
# ---------------------------------------------------------------------------------------------


async def test_simulator_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "simulator",
        "--port",
        "0",
        "--speed",
        "50",
        cwd=tmp_path,
        env=clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        match = re.fullmatch(
            r"simulator listening on (http://127\.0\.0\.1:(\d+)) \(MuleRouter and Vtrix\); "
            r"keys: mulerouter=sim-mulerouter-key, vtrix=sim-vtrix-key\n",
            first,
        )
        assert match, first
        base_url = match.group(1)
        assert int(match.group(2)) > 0

        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(base_url + "/_sim/config") as resp:
                assert resp.status == 200
                config = await resp.json()
            assert config["config"]["speed"] == 50.0
            assert config["balance"] is None
            async with session.post(
                base_url + "/vendors/alibaba/v1/wan2.2-t2v-plus/generation",
                json={"prompt": "a cat", "size": "832*480"},
                headers={"Authorization": f"Bearer {DEFAULT_MULEROUTER_KEY}"},
            ) as resp:
                assert resp.status == 202
                created = await resp.json()
            assert created["task_info"]["status"] == "pending"
            async with session.get(base_url + "/_sim/requests") as resp:
                recorded = (await resp.json())["requests"]
            assert [
                (r["method"], r["path"], r["status"], r["auth_ok"], r["task_id"]) for r in recorded
            ] == [
                (
                    "POST",
                    "/vendors/alibaba/v1/wan2.2-t2v-plus/generation",
                    202,
                    True,
                    created["task_info"]["id"],
                ),
            ]

        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(proc.wait(), 5)
        assert returncode == 0
        rest = await proc.stdout.read()
        assert rest == b""
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
