"""The image and its compose file, checked without a Docker engine (issue #13).

Why this module exists: no Docker engine runs where the tests run, so an image that installs the
source instead of the wheel, rebuilds its dependencies on every code change, lacks a health
check or runs as root would go unnoticed until someone deploys it. What can be checked without
building it is checked here: the Dockerfile's order of layers and its user, the health check's
own command (run against a local HTTP server), the compose file as YAML, the lock files against
``pyproject.toml``, and the README's no-credentials try-out run as written.
``tests/test_packaging.py`` builds the wheel and runs the image's steps in a fresh venv.

What it must never do: contact the network, or write outside ``tmp_path``.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


STAGES: list[list[tuple[str, str]]] = []
for instruction in _instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")):
    if instruction[0] == "FROM":
        STAGES.append([])
    STAGES[-1].append(instruction)
FINAL = STAGES[-1]


def _index(stage: list[tuple[str, str]], instruction: str, pattern: str) -> int:
    found = [
        i
        for i, (name, args) in enumerate(stage)
        if name == instruction and re.search(pattern, args)
    ]
    assert found, f"no {instruction} matching {pattern!r} in {stage}"
    return found[0]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), args
    return [str(part) for part in value]


# ---------------------------------------------------------------------------------------------
# The Dockerfile
# ---------------------------------------------------------------------------------------------


def test_the_image_installs_locked_dependencies_before_the_code_and_no_source() -> None:
    copy_lock = _index(FINAL, "COPY", r"^requirements\.lock ")
    deps = _index(FINAL, "RUN", r"pip install .*--require-hashes -r \S*requirements\.lock")
    copy_wheel = _index(FINAL, "COPY", r"^--from=\w+ /wheels/")
    package = _index(FINAL, "RUN", r"pip install --no-deps \S*wanbot-\*\.whl")
    assert copy_lock < deps < copy_wheel < package
    # Nothing of the source reaches the final image: only the lock and the built wheel.
    copies = [args for name, args in FINAL if name in ("COPY", "ADD")]
    assert len(copies) == 2, copies
    # The wheel stage builds the package (no dependencies, those come from the lock).
    assert any(name == "RUN" and "pip wheel --no-deps" in args for name, args in STAGES[0]), STAGES[
        0
    ]
    # The build proves the migrations shipped in the wheel.
    assert "load_migrations()" in FINAL[package][1]


def test_the_image_runs_the_installed_package_as_a_non_root_user_on_data() -> None:
    names = [name for name, _ in FINAL]
    user = FINAL[names.index("USER")][1]
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", user), user  # numeric: checkable as non-root
    after_user = FINAL[names.index("USER") :]
    assert ("WORKDIR", "/data") in after_user  # relative paths (out/, backups) land on /data
    assert any(name == "VOLUME" and "/data" in args for name, args in FINAL)
    env = " ".join(args for name, args in FINAL if name == "ENV")
    assert "WANBOT_DATABASE=/data/wanbot.sqlite3" in env
    [cmd] = [args for name, args in FINAL if name == "CMD"]
    assert _exec_form(cmd) == ["python", "-m", "bot", "run"]


@pytest.fixture
def probe_server() -> Iterator[tuple[int, list[str]]]:
    """127.0.0.1: /readyz answers 200 until told otherwise; the paths asked are recorded."""
    asked: list[str] = []
    state = {"ready": True}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            ok = self.path == "/readyz" and state["ready"]
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b"ok" if ok else b"not ready")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
        state["ready"] = False
    finally:
        server.shutdown()
        server.server_close()


def _healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
    [args] = [args for name, args in FINAL if name == "HEALTHCHECK"]
    options, _, command = args.partition("CMD ")
    assert re.search(r"--interval=\S+", options)
    assert re.search(r"--timeout=\S+", options)
    argv = _exec_form(command)
    assert argv[0] == "python"  # the image has no curl
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WANBOT_")}
    return subprocess.run(
        [sys.executable, *argv[1:]],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_healthcheck_asks_readyz_on_the_configured_port(
    probe_server: tuple[int, list[str]],
) -> None:
    port, asked = probe_server
    assert _healthcheck(WANBOT_HTTP_PORT=str(port)).returncode == 0
    # WANBOT_HTTP_HOST=0.0.0.0 (to take webhooks) is still reached on the loopback address.
    wildcard = _healthcheck(WANBOT_HTTP_PORT=str(port), WANBOT_HTTP_HOST="0.0.0.0")
    assert wildcard.returncode == 0, wildcard.stderr
    assert asked == ["/readyz", "/readyz"]


def test_the_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        checked = _healthcheck(WANBOT_HTTP_PORT=str(bound.getsockname()[1]))
    assert checked.returncode != 0


def test_the_healthcheck_fails_on_an_error_status(tmp_path: Path) -> None:
    class NotReady(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        checked = _healthcheck(WANBOT_HTTP_PORT=str(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
    assert checked.returncode != 0
    assert "503" in checked.stderr


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".git", ".venv", "data", "out", "tests"):
        assert entry in ignored


# ---------------------------------------------------------------------------------------------
# The compose file
# ---------------------------------------------------------------------------------------------


def test_compose_reads_env_rotates_logs_and_keeps_data_on_a_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service = compose["services"]["wanbot"]
    assert service["build"] == "."
    assert service["env_file"] == ".env"
    assert service["restart"] == "unless-stopped"
    logging = service["logging"]
    assert logging["driver"] == "json-file"
    assert re.fullmatch(r"\d+[km]", logging["options"]["max-size"])
    assert int(logging["options"]["max-file"]) >= 2
    assert "wanbot-data:/data" in service["volumes"]
    assert "wanbot-data" in compose["volumes"]
    # The user defaults to the image's, and can be set to a bind-mounted folder's owner.
    assert service["user"] == "${WANBOT_UID:-10001}:${WANBOT_GID:-10001}"
    for variable in ("WANBOT_UID", "WANBOT_GID"):
        assert variable in README


def test_compose_default_is_one_sqlite_bot() -> None:
    """``docker compose up`` starts the services without a profile: the one bot, on SQLite."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    default = [name for name, service in compose["services"].items() if not service.get("profiles")]
    assert default == ["wanbot"]
    service = compose["services"]["wanbot"]
    assert "depends_on" not in service
    for variable in ("WANBOT_DATABASE_URL", "WANBOT_SHARD_COUNT", "WANBOT_SHARD_IDS"):
        assert variable not in (service.get("environment") or {})


def test_compose_postgres_profile_runs_two_shards_on_a_healthy_database() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert postgres["image"] == "postgres:15"
    env = postgres["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == ("wanbot",) * 3
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "wanbot-postgres:/var/lib/postgresql/data" in postgres["volumes"]
    assert "ports" not in postgres  # only on compose's own network
    bot = services["wanbot"]
    media_volumes = set()
    for shard in (0, 1):
        service = services[f"bot-shard-{shard}"]
        assert service["profiles"] == ["postgres"]
        assert service["environment"] == {
            "WANBOT_DATABASE_URL": "postgresql://wanbot:wanbot@postgres:5432/wanbot",
            "WANBOT_SHARD_COUNT": "2",
            "WANBOT_SHARD_IDS": str(shard),
        }
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        # As the default bot: the same image, .env, user, restart policy and log rotation.
        for key in ("build", "image", "env_file", "user", "restart", "stop_grace_period"):
            assert service[key] == bot[key], key
        assert service["logging"] == bot["logging"]
        media_volumes.update(service["volumes"])
    # One media volume both see (either may finish the other's job), not the SQLite bot's.
    assert media_volumes == {"wanbot-shared:/data"}
    for volume in ("wanbot-data", "wanbot-postgres", "wanbot-shared"):
        assert volume in compose["volumes"]
    # The comment tells how to start only the profile's bots (a service without a profile,
    # the SQLite bot, would start too and answer beside them).
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "docker compose --profile postgres up -d --build bot-shard-0 bot-shard-1" in text


# ---------------------------------------------------------------------------------------------
# The lock files
# ---------------------------------------------------------------------------------------------


def _locked(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text(encoding="utf-8")
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", text, flags=re.MULTILINE)
    assert "--hash=sha256:" in text
    return {canonicalize_name(package): version for package, version in pins}


def _declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    if extra:
        declared += project["optional-dependencies"][extra]
    return [Requirement(text) for text in declared]


@pytest.mark.parametrize(
    ("lock", "extra"), [("requirements.lock", None), ("requirements-test.lock", "test")]
)
def test_the_lock_pins_every_declared_dependency(lock: str, extra: str | None) -> None:
    """A dependency added to pyproject.toml without regenerating the locks fails here."""
    pins = _locked(lock)
    for requirement in _declared(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {lock}: regenerate it (README)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement.specifier}: regenerate it"
        )
    header = (ROOT / lock).read_text(encoding="utf-8").splitlines()[1]
    assert f"-o {lock}" in header
    assert header.strip("# ") in README


def test_ci_installs_exactly_as_the_readme_says() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    [install] = [line for line in ci.splitlines() if line.startswith(".venv/bin/pip install")]
    assert "requirements-test.lock" in install
    assert f"python3 -m venv .venv && {install} && .venv/bin/pytest" in README


# ---------------------------------------------------------------------------------------------
# The README's try-out, as written
# ---------------------------------------------------------------------------------------------


def _try_it_block() -> str:
    section = README.split("## Try it without credentials", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert match
    return match.group(1)


@pytest.mark.timeout(300)
def test_the_readme_try_out_runs_as_written(tmp_path: Path) -> None:
    block = _try_it_block()
    assert "cp .env.example .env" not in block  # no credentials, nothing to fill in
    for path in re.findall(r"--image (\S+)", block):
        if "*" not in path:
            assert (ROOT / path).is_file(), f"the README names {path}, which does not exist"
    # Run from a clone's folder layout, with this interpreter for .venv/bin/python.
    script = block.replace(".venv/bin/python", shlex.quote(sys.executable))
    script = script.replace("bot/simulator/assets/", f"{ROOT}/bot/simulator/assets/")
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("DISCORD_", "MULEROUTER_", "VTRIX_", "WAN_", "WANBOT_"))
    }
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=clean,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert any(name.startswith("wan22-t2v-plus-") and name.endswith(".mp4") for name in made)
    assert sum(name.startswith("wan25-i2i-preview-") for name in made) == 2, made
    assert any(name.startswith("wan22-i2v-flash-") for name in made), made
    assert "(estimated)" in ran.stderr
