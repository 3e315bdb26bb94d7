"""The gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, dispatches, RESUME.

Why this module exists: discord.py connects to ``DEFAULT_GATEWAY``, identifies, then lives on
dispatches with sequence numbers; after a disconnect it resumes at ``resume_gateway_url`` with
the last sequence it saw and expects the missed dispatches replayed. A session outlives its
connection; a new IDENTIFY (a restarted bot) starts a new session and receives what follows.
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
from tests.emulator.waiting import Notifier
from tests.emulator.world import World

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE, RESUME = 0, 1, 2, 3, 4, 6
RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 8, 9, 10, 11

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

    @property
    def intents(self) -> int:
        return int(self.identify.get("intents") or 0)

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
        self.current: Session | None = None
        self.connections: list[Connection] = []
        self.identifies = 0
        self.resumes = 0
        self.undelivered: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- test API ------------------------------------------------------------------------------
    @property
    def connection(self) -> Connection | None:
        """The open connection of the current session, if any."""
        session = self.current
        if session is None or session.connection is None or not session.connection.open:
            return None
        return session.connection

    @property
    def connected(self) -> bool:
        return self.connection is not None

    @property
    def session_id(self) -> str | None:
        return self.current.id if self.current else None

    async def disconnect(
        self, code: int = 4000, message: str = "emulator disconnect", *, resumable: bool = True
    ) -> None:
        """Close the current connection with ``code``. The session stays resumable unless
        ``resumable=False`` (then a RESUME gets INVALID_SESSION and the bot identifies)."""
        session = self.current
        conn = self.connection
        if session is not None:
            session.connection = None
            if not resumable:
                self.sessions.pop(session.id, None)
                self.current = None
        if conn is not None:
            await conn.ws.close(code=code, message=message.encode())

    async def drop(self) -> None:
        """Cut the TCP connection without a close frame (a network failure)."""
        conn = self.connection
        if conn is not None and self.current is not None:
            self.current.connection = None
            transport = conn.request.transport
            if transport is not None:
                transport.abort()

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py closes and resumes."""
        conn = self.connection
        if conn is not None:
            await conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with ``resumable=False`` the session is forgotten."""
        conn = self.connection
        session = self.current
        if not resumable and session is not None:
            self.sessions.pop(session.id, None)
            self.current = None
        if conn is not None:
            await conn.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None})

    # -- dispatching ---------------------------------------------------------------------------
    async def dispatch(self, event: str, data: dict[str, Any], *, intent: int = 0) -> bool:
        """Send a dispatch on the current session (buffered for RESUME if disconnected).
        False when no bot has a session, or it did not ask for ``intent``."""
        session = self.current
        if session is None:
            self.undelivered.append({"t": event, "d": data})
            return False
        if intent and not session.intents & intent:
            return False
        await self._dispatch_on(session, event, data)
        return True

    def dispatch_soon(self, event: str, data: dict[str, Any], *, intent: int = 0) -> None:
        task = asyncio.ensure_future(self.dispatch(event, data, intent=intent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_on(self, session: Session, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            await self._append_and_send(session, event, data)
        self.notifier.notify()

    async def _append_and_send(self, session: Session, event: str, data: dict[str, Any]) -> None:
        """Give the dispatch the next sequence number, keep it for RESUME, send it if the
        session has a connection. The caller holds ``session.lock``."""
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
        loop = asyncio.get_running_loop()
        session = Session(id=secrets.token_hex(16), identify=data, created_at=loop.time())
        self.sessions[session.id] = session
        previous = self.current
        if previous is not None and previous.connection is not None:
            previous.connection = None
        self.current = session
        self.identifies += 1
        conn.session = session
        # Without the presences intent Discord sends only the bot's own member; discord.py
        # then asks for the rest (op 8) if it has the members intent.
        all_members = bool(session.intents & INTENT_PRESENCES)
        async with session.lock:
            session.connection = conn
            await self._append_and_send(session, "READY", self._ready_payload(session, data))
            for guild in list(self.world.guilds.values()):
                await self._append_and_send(
                    session,
                    "GUILD_CREATE",
                    guild.create_payload(bot_id=self.world.bot_user.id, all_members=all_members),
                )
            session.handshake_done = True
        self.notifier.notify()
        return True

    def _ready_payload(self, session: Session, identify: dict[str, Any]) -> dict[str, Any]:
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
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
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
        if session is None or data.get("token") != self.config.token or session is not self.current:
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
            if guild is None:
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
