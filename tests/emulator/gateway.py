"""The gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, dispatches, RESUME, shards.

Why this module exists: discord.py connects to ``DEFAULT_GATEWAY``, identifies, then lives on
dispatches with sequence numbers; after a disconnect it resumes at ``resume_gateway_url`` with
the last sequence it saw and expects the missed dispatches replayed. A session outlives its
connection; a new IDENTIFY (a restarted bot) starts a new session and receives what follows.

Shards, as Discord does them: an IDENTIFY may carry ``shard: [shard_id, shard_count]``; that
session gets only the guilds with ``(guild_id >> 22) % shard_count == shard_id`` (in READY, as
GUILD_CREATE, and every dispatch about them), and the dispatches without a guild (DMs) only if
``shard_id`` is 0. An IDENTIFY without ``shard`` gets everything, as before. Sessions of
different shards (several bot processes, or one running several shards) are live side by
side; a new IDENTIFY replaces only the live session of its own shard (a restarted process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.emulator.compression import FrameEncoder
from tests.emulator.config import EmulatorConfig
from tests.emulator.snowflakes import shard_of
from tests.emulator.waiting import Notifier
from tests.emulator.world import World

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE, RESUME = 0, 1, 2, 3, 4, 6
RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 8, 9, 10, 11
INVALID_SHARD = 4010

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

_TRACE = ['["gateway-emulator",{"micros":1000}]']


@dataclass
class Connection:
    """One websocket. ``path`` tells whether it came through ``resume_gateway_url``."""

    ws: web.WebSocketResponse
    request: web.Request
    path: str
    query: dict[str, str]
    encoder: FrameEncoder
    opened_at: float
    session: Session | None = None
    closed_at: float | None = None
    close_code: int | None = None
    heartbeats: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[int, str | None, int | None]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def compress(self) -> str | None:
        return self.encoder.mode

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.ws.closed

    async def send(self, frame: dict[str, Any]) -> None:
        data = self.encoder.encode(json.dumps(frame, separators=(",", ":")))
        async with self.lock:
            if isinstance(data, bytes):
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(data)
            self.sent.append((frame["op"], frame.get("t"), frame.get("s")))


@dataclass
class Session:
    id: str
    identify: dict[str, Any]
    created_at: float
    seq: int = 0
    buffer: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    connection: Connection | None = None
    resumes: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    presence: dict[str, Any] | None = None
    handshake_done: bool = False  # READY and every GUILD_CREATE sent
    shard: tuple[int, int] | None = None  # (shard_id, shard_count); None: unsharded
    number: int = 0  # the n-th IDENTIFY of this emulator
    # Every dispatch given to this session, as (event, guild id or None), oldest first.
    events: list[tuple[str, int | None]] = field(default_factory=list)

    @property
    def intents(self) -> int:
        return int(self.identify.get("intents") or 0)

    @property
    def shard_id(self) -> int | None:
        return self.shard[0] if self.shard else None

    def owns(self, guild_id: int | None) -> bool:
        """This session receives the dispatches about ``guild_id`` (None: not about a guild,
        e.g. a DM, which Discord sends on shard 0)."""
        return shard_owns(self.shard, guild_id)

    @property
    def guild_ids(self) -> set[int]:
        """The guilds this session was given a GUILD_CREATE for."""
        return {g for event, g in self.events if event == "GUILD_CREATE" and g is not None}

    @property
    def ready(self) -> bool:
        return self.seq > 0


class GatewayServer:
    def __init__(
        self,
        config: EmulatorConfig,
        world: World,
        notifier: Notifier,
        resume_url: Callable[[], str],
    ) -> None:
        self.config = config
        self.world = world
        self.notifier = notifier
        self._resume_url = resume_url
        self.heartbeat_interval_ms = config.heartbeat_interval_ms
        self.ack_heartbeats = True
        self.sessions: dict[str, Session] = {}
        # The live session of each shard (None: unsharded), in the order they identified.
        self._live: dict[tuple[int, int] | None, Session] = {}
        self.connections: list[Connection] = []
        self.identifies = 0
        self.resumes = 0
        self.undelivered: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- test API ------------------------------------------------------------------------------
    @property
    def current(self) -> Session | None:
        """The live session that identified last (the only one, unsharded)."""
        return next(reversed(self._live.values()), None)

    @property
    def live(self) -> list[Session]:
        """Every live session (one per shard), in the order they identified."""
        return list(self._live.values())

    def shard(self, shard_id: int) -> Session | None:
        """The live session of shard ``shard_id`` (the latest, if several shard counts)."""
        found = [s for s in self._live.values() if s.shard_id == shard_id]
        return found[-1] if found else None

    def targets(self, guild_id: int | None) -> list[Session]:
        """The live sessions that receive dispatches about ``guild_id`` (None: no guild)."""
        return [s for s in self._live.values() if s.owns(guild_id)]

    def _session(self, shard: int | None) -> Session | None:
        return self.current if shard is None else self.shard(shard)

    def connection_of(self, shard: int | None = None) -> Connection | None:
        """The open connection of shard ``shard``'s session (None: the current session)."""
        session = self._session(shard)
        if session is None or session.connection is None or not session.connection.open:
            return None
        return session.connection

    @property
    def connection(self) -> Connection | None:
        """The open connection of the current session, if any."""
        return self.connection_of(None)

    @property
    def connected(self) -> bool:
        return self.connection is not None

    @property
    def session_id(self) -> str | None:
        current = self.current
        return current.id if current else None

    def _forget(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        if self._live.get(session.shard) is session:
            del self._live[session.shard]

    async def disconnect(
        self,
        code: int = 4000,
        message: str = "emulator disconnect",
        *,
        resumable: bool = True,
        shard: int | None = None,
    ) -> None:
        """Close the current connection (``shard``: that shard's) with ``code``. The session
        stays resumable unless ``resumable=False`` (then a RESUME gets INVALID_SESSION and
        the bot identifies)."""
        session = self._session(shard)
        conn = self.connection_of(shard)
        if session is not None:
            session.connection = None
            if not resumable:
                self._forget(session)
        if conn is not None:
            await conn.ws.close(code=code, message=message.encode())

    async def drop(self, *, shard: int | None = None) -> None:
        """Cut the TCP connection (``shard``: that shard's) without a close frame (a network
        failure)."""
        session = self._session(shard)
        conn = self.connection_of(shard)
        if conn is not None and session is not None:
            session.connection = None
            transport = conn.request.transport
            if transport is not None:
                transport.abort()

    async def request_reconnect(self, *, shard: int | None = None) -> None:
        """Send op 7 RECONNECT: discord.py closes and resumes."""
        conn = self.connection_of(shard)
        if conn is not None:
            await conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate_session(
        self, resumable: bool = False, *, shard: int | None = None
    ) -> None:
        """Send op 9 INVALID_SESSION; with ``resumable=False`` the session is forgotten."""
        conn = self.connection_of(shard)
        session = self._session(shard)
        if not resumable and session is not None:
            self._forget(session)
        if conn is not None:
            await conn.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None})

    # -- dispatching ---------------------------------------------------------------------------
    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int = 0,
        guild_id: int | None = None,
        session: Session | None = None,
    ) -> bool:
        """Send a dispatch on every live session of the shard that owns its guild (buffered
        for RESUME if disconnected): ``guild_id``, else the payload's ``guild_id`` (a
        GUILD_CREATE/UPDATE/DELETE's ``id``); none: shard 0. ``session``: on that one only.
        False when no session gets it (none owns the guild, or asked for ``intent``)."""
        if session is not None:
            targets = [session]
        else:
            targets = self.targets(guild_id if guild_id is not None else guild_of(event, data))
        if not targets:
            self.undelivered.append({"t": event, "d": data})
            return False
        sent = False
        for target in targets:
            if intent and not target.intents & intent:
                continue
            await self._dispatch_on(target, event, data)
            sent = True
        return sent

    def dispatch_soon(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int = 0,
        guild_id: int | None = None,
        session: Session | None = None,
    ) -> None:
        task = asyncio.ensure_future(
            self.dispatch(event, data, intent=intent, guild_id=guild_id, session=session)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_on(self, session: Session, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            await self._append_and_send(session, event, data)
        self.notifier.notify()

    async def _append_and_send(self, session: Session, event: str, data: dict[str, Any]) -> None:
        """Give the dispatch the next sequence number, keep it for RESUME, send it if the
        session has a connection. The caller holds ``session.lock``."""
        session.events.append((event, guild_of(event, data)))
        session.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.buffer.append((session.seq, frame))
        while len(session.buffer) > self.config.replay_buffer:
            session.buffer.popleft()
        conn = session.connection
        if conn is not None and conn.open:
            try:
                await conn.send(frame)
            except (ConnectionError, RuntimeError):
                log.debug("dispatch %s not sent; kept for RESUME", event)

    # -- the websocket -------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            max_msg_size=16 * 1024 * 1024, compress=False, autoping=True, timeout=5.0
        )
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        query = dict(request.query)
        conn = Connection(
            ws=ws,
            request=request,
            path=request.path,
            query=query,
            encoder=FrameEncoder(query.get("compress")),
            opened_at=loop.time(),
        )
        self.connections.append(conn)
        self.notifier.notify()
        try:
            if query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Error while decoding payload.")
                return ws
            await conn.send(
                {
                    "op": HELLO,
                    "s": None,
                    "t": None,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": _TRACE},
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    raw: Any = msg.data
                elif msg.type is WSMsgType.BINARY:
                    raw = msg.data.decode("utf-8", "replace")
                else:
                    break
                try:
                    payload = json.loads(raw)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                conn.received.append(payload)
                if not await self._on_payload(conn, payload):
                    break
        except ConnectionError:
            pass
        finally:
            conn.closed_at = loop.time()
            conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
            self.notifier.notify()
        return ws

    async def _on_payload(self, conn: Connection, payload: dict[str, Any]) -> bool:
        op = payload.get("op")
        data = payload.get("d")
        if op == HEARTBEAT:
            conn.heartbeats += 1
            if self.ack_heartbeats:
                self._later(self.config.heartbeat_ack_delay, conn, {"op": HEARTBEAT_ACK})
            self.notifier.notify()
            return True
        if op == IDENTIFY:
            return await self._identify(conn, data or {})
        if op == RESUME:
            return await self._resume(conn, data or {})
        if conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
            return False
        if op == REQUEST_MEMBERS:
            await self._members_chunk(conn.session, data or {})
            return True
        if op == PRESENCE:
            conn.session.presence = data
            return True
        if op == VOICE:
            return True
        await conn.ws.close(code=4001, message=b"Unknown opcode.")
        return False

    def _later(self, delay: float, conn: Connection, frame: dict[str, Any]) -> None:
        async def send() -> None:
            await asyncio.sleep(delay)
            if conn.open:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.send(frame)

        task = asyncio.ensure_future(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> bool:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return False
        if data.get("token") != self.config.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return False
        shard = _shard(data.get("shard"))
        if shard is False:
            await conn.ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
            return False
        loop = asyncio.get_running_loop()
        self.identifies += 1
        session = Session(
            id=secrets.token_hex(16),
            identify=data,
            created_at=loop.time(),
            shard=shard,
            number=self.identifies,
        )
        self.sessions[session.id] = session
        previous = self._live.pop(shard, None)  # the same shard identifying again: a restart
        if previous is not None and previous.connection is not None:
            previous.connection = None
        self._live[shard] = session
        conn.session = session
        # Without the presences intent Discord sends only the bot's own member; discord.py
        # then asks for the rest (op 8) if it has the members intent.
        all_members = bool(session.intents & INTENT_PRESENCES)
        async with session.lock:
            session.connection = conn
            await self._append_and_send(session, "READY", self._ready_payload(session, data))
            for guild in [g for g in self.world.guilds.values() if session.owns(g.id)]:
                await self._append_and_send(
                    session,
                    "GUILD_CREATE",
                    guild.create_payload(bot_id=self.world.bot_user.id, all_members=all_members),
                )
            session.handshake_done = True
        self.notifier.notify()
        return True

    def _ready_payload(self, session: Session, identify: dict[str, Any]) -> dict[str, Any]:
        shard = _shard(identify.get("shard"))
        user = {
            **self.world.bot_user.payload(),
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "bot": True,
        }
        payload: dict[str, Any] = {
            "v": 10,
            "user_settings": {},
            "user": user,
            "session_type": "normal",
            "session_id": session.id,
            "resume_gateway_url": self._resume_url(),
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guilds": [
                {"id": str(g), "unavailable": True}
                for g in self.world.guilds
                if shard_owns(shard if isinstance(shard, tuple) else None, g)
            ],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["emulator"],
            "game_relationships": [],
            "auth": {},
            "application": {
                "id": str(self.world.application_id),
                "flags": self.config.application_flags,
            },
            "_trace": _TRACE,
        }
        if identify.get("shard") is not None:
            payload["shard"] = identify["shard"]
        return payload

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> bool:
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if (
            session is None
            or data.get("token") != self.config.token
            or self._live.get(session.shard) is not session
        ):
            await asyncio.sleep(0.05)
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return True
        async with session.lock:
            oldest = session.buffer[0][0] if session.buffer else session.seq + 1
            if seq is not None and int(seq) + 1 < oldest:
                await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
                return True
            if session.connection is not None and session.connection is not conn:
                old = session.connection
                session.connection = None
                with contextlib.suppress(Exception):
                    await old.ws.close(code=4000, message=b"Session resumed elsewhere.")
            for number, frame in list(session.buffer):
                if seq is None or number > int(seq):
                    await conn.send(frame)
            session.seq += 1
            resumed = {"op": DISPATCH, "t": "RESUMED", "s": session.seq, "d": {"_trace": _TRACE}}
            session.buffer.append((session.seq, resumed))
            await conn.send(resumed)
            conn.session = session
            session.connection = conn
            session.resumes += 1
        self.resumes += 1
        self.notifier.notify()
        return True

    async def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        raw_ids = data.get("guild_id")
        guild_ids = raw_ids if isinstance(raw_ids, list) else [raw_ids]
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        wanted = {str(u) for u in data.get("user_ids") or []}
        for gid in guild_ids:
            guild = self.world.guilds.get(int(gid))
            if guild is None or not session.owns(guild.id):
                continue
            members = []
            for member in guild.members.values():
                if wanted and str(member.user.id) not in wanted:
                    continue
                if query and not member.user.username.lower().startswith(query):
                    continue
                members.append(member.payload())
            if limit and not wanted:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if wanted:
                found = {m["user"]["id"] for m in members}
                chunk["not_found"] = sorted(wanted - found)
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            await self._dispatch_on(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def close(self) -> None:
        for conn in list(self.connections):
            if conn.open:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"emulator stopping")
        for task in list(self._tasks):
            task.cancel()


def _shard(raw: Any) -> tuple[int, int] | bool | None:
    """IDENTIFY's ``shard``: (id, count), None when absent, False when Discord would refuse it
    (close 4010 Invalid shard)."""
    if raw is None:
        return None
    if (
        not isinstance(raw, list | tuple)
        or len(raw) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in raw)
    ):
        return False
    shard_id, count = raw
    if count < 1 or not 0 <= shard_id < count:
        return False
    return shard_id, count


def shard_owns(shard: tuple[int, int] | None, guild_id: int | None) -> bool:
    """A session of ``shard`` ((id, count); None: unsharded) receives the dispatches about
    ``guild_id`` (None: about no guild, e.g. a DM, which Discord sends on shard 0)."""
    if shard is None:
        return True
    shard_id, count = shard
    if guild_id is None:
        return shard_id == 0
    return shard_of(guild_id, count) == shard_id


def guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild a dispatch is about: its ``guild_id``, or a GUILD_CREATE/UPDATE/DELETE's
    ``id``; None when it is about none (a DM, the bot's user)."""
    raw = data.get("guild_id")
    if raw is None and event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        raw = data.get("id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
