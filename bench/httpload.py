"""A small HTTP/1.1 keep-alive client and two load shapes: a fixed offered rate, and closed loops.

Written on asyncio streams rather than httpx so that the load generator costs little CPU
on a 2-core machine (httpx spends about a millisecond of CPU per request; this client a
tenth of that), leaving the cores to the service under test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                 headers: str = "") -> None:
        self.reader, self.writer, self.host, self.headers = reader, writer, host, headers
        self.used_at = time.monotonic()

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length or 0)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        self.writer.close()

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()


class Client:
    """A pool of keep-alive connections to one server.

    uvicorn closes a connection idle for 5 s: idle connections older than IDLE_MAX are not
    reused, and a request that fails on a reused connection before any answer is sent again
    once on a new one (every request of the benchmark is idempotent).
    """

    IDLE_MAX = 3.0

    def __init__(self, base_url: str, max_connections: int = 64, headers: dict | None = None) -> None:
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.max = max_connections
        self._idle: list[Connection] = []
        self._open = 0
        self._freed = asyncio.Condition()

    async def _get(self, fresh: bool = False) -> tuple[Connection, bool]:
        """A connection, and whether it was used before."""
        async with self._freed:
            while True:
                while self._idle and not fresh:
                    conn = self._idle.pop()
                    if not conn.closed and time.monotonic() - conn.used_at < self.IDLE_MAX:
                        return conn, True
                    conn.close()
                    self._open -= 1
                if self._open < self.max:
                    self._open += 1
                    break
                await self._freed.wait()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            async with self._freed:
                self._open -= 1
                self._freed.notify()
            raise
        return Connection(reader, writer, f"{self.host}:{self.port}", self.headers), False

    async def _put(self, conn: Connection, ok: bool) -> None:
        async with self._freed:
            if ok and not conn.closed:
                conn.used_at = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
                self._open -= 1
            self._freed.notify()

    async def request(self, method: str, path: str, payload=None) -> tuple[int, bytes]:
        body = json.dumps(payload).encode() if payload is not None else None
        for attempt in range(2):
            conn, reused = await self._get(fresh=attempt > 0)
            ok = False
            try:
                result = await conn.request(method, path, body)
                ok = True
                return result
            except (HttpError, ConnectionError, asyncio.IncompleteReadError):
                if attempt or not reused:
                    raise
            finally:
                await self._put(conn, ok)
        raise HttpError("unreachable")

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: dict = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, of successful requests
    seconds: float = 0.0
    items_ok: int = 0
    responses: list = field(default_factory=list)

    def error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1


async def fixed_rate(client: Client, rate: float, seconds: float, make: Callable[[int], tuple[str, str, object]],
                     ok_status: tuple[int, ...] = (200, 201), keep: Callable | None = None,
                     drain_timeout: float = 30.0) -> LoadResult:
    """Open loop: request i is due at t0 + i/rate whatever the answers; latency counts from when it
    was due, so a slow server cannot hide its queue (no coordinated omission)."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []
    total = int(rate * seconds)
    t0 = loop.time() + 0.05

    async def one(i: int, due: float) -> None:
        method, path, body = make(i)
        try:
            status, data = await client.request(method, path, body)
        except Exception as exc:  # noqa: BLE001
            result.error(type(exc).__name__)
            return
        done = loop.time()
        if status in ok_status:
            result.ok += 1
            result.latencies.append(done - due)
            if keep is not None:
                keep(i, data, time.time())
        else:
            result.error(str(status))

    for i in range(total):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
        result.sent += 1
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=drain_timeout)
        for task in pending:
            task.cancel()
            result.error("timeout")
    result.seconds = loop.time() - t0
    return result


async def closed_loop(client: Client, workers: int, seconds: float,
                      make: Callable[[int, int], tuple[str, str, object] | None],
                      ok_status: tuple[int, ...] = (200, 201), count_items: Callable | None = None) -> LoadResult:
    """`workers` loops each sending its next request as soon as the previous one is answered,
    for `seconds` (or until `make` returns None)."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    end = t0 + seconds

    async def worker(w: int) -> None:
        i = 0
        while loop.time() < end:
            req = make(w, i)
            if req is None:
                return
            i += 1
            method, path, body = req
            started = loop.time()
            result.sent += 1
            try:
                status, data = await client.request(method, path, body)
            except Exception as exc:  # noqa: BLE001
                result.error(type(exc).__name__)
                continue
            if status in ok_status:
                result.ok += 1
                result.latencies.append(loop.time() - started)
                if count_items is not None:
                    result.items_ok += count_items(data)
            else:
                result.error(str(status))

    await asyncio.gather(*(worker(w) for w in range(workers)))
    result.seconds = loop.time() - t0
    return result
