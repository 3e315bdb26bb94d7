"""The installed package works outside the source tree (issue #10).

Why this module exists: every other test imports ``bot`` from the checkout (an editable install),
where ``bot/jobs/migrations/*.sql`` and ``bot/simulator/assets`` are always beside the code. A
wheel that forgot them installed fine and then failed at the first job with "no such table: jobs".
Here the wheel is built, installed into a fresh virtual environment the way the Docker image
installs it (the locked dependencies, hash-checked, then the wheel with ``--no-deps``) and run
from an empty folder with a clean environment, so nothing can be found in the checkout by
accident: ``generate``, ``doctor``, ``backup`` and the image's command (issue #13).

What it must never do: build inside the checkout (setuptools writes ``build/`` and
``*.egg-info`` beside ``pyproject.toml``; the copy in ``tmp_path`` takes them), or leave files or
processes behind outside ``tmp_path``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import aiosqlite
import pytest

from bot.jobs import migrations

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from: the same files the Dockerfile's wheel stage copies.
SOURCES = ("pyproject.toml", "README.md", "bot", "cogs")
# What the image installs the dependencies from, before the wheel.
LOCK = ROOT / "requirements.lock"
# Building pulls setuptools (build isolation), installing pulls the dependencies: both from the
# index or pip's cache. Generous, for a cold cache; a warm run takes a few seconds.
PIP_TIMEOUT = 600.0
RUN_TIMEOUT = 120.0
# Variables that would let the child import the checkout, or a different interpreter setup.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")


def _pip_env() -> dict[str, str]:
    """This environment for pip (its index, cache and proxy settings), minus the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _run(
    command: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _skip_unless_index_reachable(python: str, tmp_path: Path, why: str) -> None:
    """Skip (with the reason) when pip cannot fetch the build backend from any index."""
    probe = _run(
        [python, "-m", "pip", "download", "--no-deps", "-d", tmp_path / "probe", "setuptools>=77"],
        cwd=tmp_path,
        env=_pip_env(),
        timeout=PIP_TIMEOUT,
    )
    if probe.returncode != 0:
        pytest.skip(f"pip cannot reach a package index ({why}): {probe.stderr.strip()[-300:]}")


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    wheels = tmp_path / "wheels"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, source],
        cwd=tmp_path,
        env=_pip_env(),
        timeout=PIP_TIMEOUT,
    )
    if built.returncode != 0:
        _skip_unless_index_reachable(sys.executable, tmp_path, "building the wheel")
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob("wanbot-*.whl")
    return wheel


def _install(wheel: Path, tmp_path: Path) -> Path:
    """A fresh virtual environment with only the wheel and its locked dependencies; its ``bin``.

    The Dockerfile's two steps: ``requirements.lock`` with hashes, then the wheel alone.
    """
    venv = tmp_path / "venv"
    made = _run(
        [sys.executable, "-m", "venv", venv], cwd=tmp_path, env=_pip_env(), timeout=RUN_TIMEOUT
    )
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--no-input", "--no-compile"]
    installed = _run(
        [*pip, "--require-hashes", "-r", LOCK], cwd=tmp_path, env=_pip_env(), timeout=PIP_TIMEOUT
    )
    if installed.returncode != 0:
        _skip_unless_index_reachable(str(python), tmp_path, "installing the dependencies")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    package = _run([*pip, "--no-deps", wheel], cwd=tmp_path, env=_pip_env(), timeout=RUN_TIMEOUT)
    assert package.returncode == 0, package.stdout + package.stderr
    # The lock covers everything the wheel asks for: nothing was left to --no-deps.
    checked = _run([python, "-m", "pip", "check"], cwd=tmp_path, env=_pip_env(), timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return venv / "bin"


@pytest.fixture(scope="module")
def installed_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once for this module and installed as the image installs it."""
    where = tmp_path_factory.mktemp("wheel")
    return _install(_build_wheel(where), where)


def _clean_env(bin_dir: Path, tmp_path: Path, **settings: str) -> dict[str, str]:
    """No .env, no setting, no PYTHONPATH: only the installed package and ``settings``."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.defpath}",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        **settings,
    }


@pytest.mark.timeout(PIP_TIMEOUT * 2 + RUN_TIMEOUT * 3)
def test_installed_wheel_generates_from_any_folder(installed_bin: Path, tmp_path: Path) -> None:
    bin_dir = installed_bin
    venv = bin_dir.parent.resolve()

    # An empty folder, no .env, no setting, no PYTHONPATH: only the installed package is there.
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env(bin_dir, tmp_path)
    where = _run(
        [bin_dir / "python", "-c", "import bot; print(bot.__file__)"],
        cwd=work,
        env=env,
        timeout=RUN_TIMEOUT,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(venv), where.stdout

    # The console script of [project.scripts] is installed and runs.
    models = _run([bin_dir / "wanbot", "models"], cwd=work, env=env, timeout=RUN_TIMEOUT)
    assert models.returncode == 0, models.stderr
    assert "wan2.2-t2v-plus" in models.stdout

    generated = _run(
        [
            bin_dir / "python",
            "-m",
            "bot",
            "generate",
            "wan2.2-t2v-plus",
            "--simulate",
            "--prompt",
            "a cat surfing",
        ],
        cwd=work,
        env=env,
        timeout=RUN_TIMEOUT,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    videos = sorted((work / "out").rglob("*.mp4"))
    assert videos, generated.stdout + generated.stderr
    # The simulator serves its packaged sample MP4 (bot/simulator/assets): an ISO-BMFF file.
    assert all(video.read_bytes()[4:8] == b"ftyp" for video in videos)
    assert str(videos[0]) in generated.stdout or videos[0].name in generated.stdout
    # The CLI's private database lives in TMPDIR and is removed when it exits.
    assert not any((tmp_path / "tmp").iterdir())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(PIP_TIMEOUT * 2 + RUN_TIMEOUT * 6)
def test_installed_wheel_ships_and_compiles_the_message_catalogs(
    installed_bin: Path, tmp_path: Path
) -> None:
    """The .po catalogs (bot/locale) are package data, compiled at start-up: a wheel without
    them would answer every member in English, or stop at the first zh-CN command."""
    python = installed_bin / "python"
    shown = _run(
        [
            python,
            "-c",
            "from bot import i18n\ni18n.load_catalogs()\nprint(i18n.translate('Queued', 'zh-CN'))",
        ],
        cwd=tmp_path,
        env=_clean_env(installed_bin, tmp_path),
        timeout=RUN_TIMEOUT,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "排队中"


def test_installed_wheel_runs_doctor_backup_and_the_image_command(
    installed_bin: Path, tmp_path: Path
) -> None:
    """From a temporary folder, as in the image: /data is the working folder and the volume."""
    bin_dir = installed_bin
    python = bin_dir / "python"
    data = tmp_path / "data"
    data.mkdir()
    env = _clean_env(bin_dir, tmp_path, WANBOT_DATABASE=str(data / "wanbot.sqlite3"))

    # The image's CMD, without a token: one line naming the setting, before Discord is contacted.
    run = _run([python, "-m", "bot", "run"], cwd=data, env=env, timeout=RUN_TIMEOUT)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: DISCORD_TOKEN is not set")

    # A database as the bot leaves it: every packaged migration applied.
    made = _run(
        [
            python,
            "-c",
            "import asyncio, sys, aiosqlite\n"
            "from bot.jobs.migrations import migrate\n"
            "async def main():\n"
            "    async with aiosqlite.connect(sys.argv[1], isolation_level=None) as db:\n"
            "        await migrate(db)\n"
            "asyncio.run(main())",
            data / "wanbot.sqlite3",
        ],
        cwd=data,
        env=env,
        timeout=RUN_TIMEOUT,
    )
    assert made.returncode == 0, made.stderr

    # doctor against the wheel's own simulator (no network); no DISCORD_TOKEN, so the Discord
    # check fails by itself, without contacting Discord, and the exit status is 1.
    port = _free_port()
    simulator = subprocess.Popen(
        [python, "-m", "bot", "simulator", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert simulator.stdout is not None
        banner = simulator.stdout.readline()
        assert f"127.0.0.1:{port}" in banner, banner + simulator.stderr.read()
        doctor = _run(
            [python, "-m", "bot", "doctor"],
            cwd=data,
            env={
                **env,
                "MULEROUTER_BASE_URL": f"http://127.0.0.1:{port}",
                "MULEROUTER_API_KEY": "sim-mulerouter-key",
                "WANBOT_HTTP_PORT": "off",  # whatever this machine has on 8080
            },
            timeout=RUN_TIMEOUT,
        )
    finally:
        simulator.terminate()
        try:
            simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            simulator.kill()
            simulator.wait()
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    lines = doctor.stdout.splitlines()
    names = [re.match(r"(ok  |FAIL)  ([^:]+):", line) for line in lines]
    assert all(names), doctor.stdout
    verdicts = {m.group(2): m.group(1).strip() for m in names if m}
    assert verdicts == {
        "settings": "ok",
        "prices": "ok",
        "database": "ok",
        "media": "ok",
        "http": "ok",
        "mulerouter key": "ok",
        "discord": "FAIL",
    }, doctor.stdout
    latest = len(migrations.load_migrations())
    assert f"schema {latest} (up to date)" in doctor.stdout
    assert "FAIL  discord: DISCORD_TOKEN is not set" in doctor.stdout
    assert "sim-mulerouter-key" not in doctor.stdout + doctor.stderr

    # backup into the working folder (the image's /data): a dated copy beside the database.
    backup = _run([python, "-m", "bot", "backup", "."], cwd=data, env=env, timeout=RUN_TIMEOUT)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert re.fullmatch(r"backed up \S+ to \S+ \(0 jobs, [\d.]+ [kM]B\)\n", backup.stdout)
    [copy] = data.glob("wanbot-*.sqlite3")
    assert copy.read_bytes()[:16] == b"SQLite format 3\x00"
    # ...and an unusable target is one error line, exit 1.
    again = _run(
        [python, "-m", "bot", "backup", "no/such/folder/x.sqlite3"],
        cwd=data,
        env=env,
        timeout=RUN_TIMEOUT,
    )
    assert again.returncode == 1
    assert again.stderr == "error: the folder no/such/folder does not exist\n"


# ---------------------------------------------------------------------------------------------
# The runner refuses to open a database when it finds no migration
# ---------------------------------------------------------------------------------------------


def test_the_package_ships_numbered_migrations() -> None:
    found = migrations.load_migrations()
    assert [m.number for m in found] == list(range(1, len(found) + 1))
    assert migrations.latest_version() == len(found)


async def test_no_migrations_found_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "migrations"
    empty.mkdir()
    (empty / "__init__.py").write_text("", encoding="utf-8")  # the package without its data
    monkeypatch.setattr(migrations, "_package_folder", lambda: empty)

    with pytest.raises(migrations.MigrationsMissing, match="no schema migrations") as raised:
        migrations.load_migrations()
    assert str(empty) in str(raised.value)
    assert "bot.jobs.migrations" in str(raised.value)
    with pytest.raises(migrations.MigrationsMissing):
        migrations.latest_version()

    async with aiosqlite.connect(tmp_path / "wanbot.sqlite3", isolation_level=None) as db:
        with pytest.raises(migrations.MigrationsMissing, match=re.escape(str(empty))):
            await migrations.migrate(db)
        # Nothing was applied or recorded: the next start with the data files migrates normally.
        assert await migrations.schema_version(db) == 0
        tables = await (await db.execute("SELECT name FROM sqlite_master")).fetchall()
        assert tables == []
