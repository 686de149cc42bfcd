"""A TCP proxy in front of the broker that can hold what clients send or what the broker answers.

The broker advertises the proxy's address, so every client connection goes through it.
- `hold()` keeps the bytes clients send (requests queue up in the proxy, not in the broker's
  socket buffer): "kill -9 a consumer blocked in its offset commit" then leaves that commit
  unsent, as a crash just before the commit would;
- `hold(responses=True)` lets requests through but keeps the broker's answers to Produce
  requests (from the first such answer on, per connection, so that answers stay in order): a
  producer's records are on the topic while it still waits for their acknowledgement, so "kill -9
  the relay between publish and mark" can be done on purpose. Other answers (the relay's metadata
  look before each batch) pass until then, which is why the stream is cut into Kafka frames;
- `hold(commits=True)` keeps a consumer's OffsetCommit requests (and what follows them on that
  connection) while its fetches go on: the consumer applies one batch and waits on its commit,
  so "kill -9 between the database commit and the offset commit" lands every time.
`release()` forwards what was held, except for connections whose client died meanwhile, whose
held bytes are dropped with the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading

PRODUCE = 0  # Kafka API keys: Produce, OffsetCommit
OFFSET_COMMIT = 8


def frames(buffer: bytearray) -> list[bytes]:
    """Cut the complete size-prefixed Kafka frames off the front of `buffer`."""
    out = []
    while len(buffer) >= 4:
        size = struct.unpack_from(">i", buffer)[0]
        if len(buffer) < 4 + size:
            break
        out.append(bytes(buffer[:4 + size]))
        del buffer[:4 + size]
    return out


class _Pipe:
    def __init__(self, client_writer: asyncio.StreamWriter, upstream_writer: asyncio.StreamWriter) -> None:
        self.client_writer = client_writer
        self.upstream_writer = upstream_writer
        self.held: list[bytes] = []
        self.held_responses: list[bytes] = []
        self.client_closed = False
        self.produce_ids: set[int] = set()  # correlation ids of Produce requests not yet answered
        self.from_client = bytearray()
        self.from_broker = bytearray()


class HoldingProxy:
    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        self.pipes: set[_Pipe] = set()
        self.holding = False
        self.holding_responses = False
        self.holding_commits = False
        self.dropped_bytes = 0
        self._thread = threading.Thread(target=self.loop.run_forever, name="kafka-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        pipe = _Pipe(client_writer, upstream_writer)
        self.pipes.add(pipe)
        try:
            await asyncio.gather(self._to_broker(client_reader, pipe), self._to_client(upstream_reader, pipe),
                                 return_exceptions=True)
        finally:
            self.pipes.discard(pipe)
            for writer in (client_writer, upstream_writer):
                with contextlib.suppress(Exception):
                    writer.close()

    async def _to_broker(self, reader: asyncio.StreamReader, pipe: _Pipe) -> None:
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                pipe.client_closed = True
                if not self.holding and not pipe.held:
                    pipe.upstream_writer.close()
                return  # held bytes of a dead client are dropped at release
            pipe.from_client.extend(data)
            for frame in frames(pipe.from_client):
                api_key, _, correlation_id = struct.unpack_from(">hhi", frame, 4)
                if api_key == PRODUCE:
                    pipe.produce_ids.add(correlation_id)
                # Once a frame is held, everything after it on the connection waits too: a Kafka
                # client expects its answers in the order of its requests.
                if self.holding or pipe.held or (self.holding_commits and api_key == OFFSET_COMMIT):
                    pipe.held.append(frame)
                else:
                    pipe.upstream_writer.write(frame)
            await pipe.upstream_writer.drain()

    async def _to_client(self, reader: asyncio.StreamReader, pipe: _Pipe) -> None:
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                if not pipe.held_responses:
                    pipe.client_writer.close()
                return
            pipe.from_broker.extend(data)
            for frame in frames(pipe.from_broker):
                correlation_id = struct.unpack_from(">i", frame, 4)[0]
                produce = correlation_id in pipe.produce_ids
                pipe.produce_ids.discard(correlation_id)
                if (self.holding_responses and produce) or pipe.held_responses:
                    pipe.held_responses.append(frame)
                else:
                    pipe.client_writer.write(frame)
            with contextlib.suppress(ConnectionError, OSError):
                await pipe.client_writer.drain()

    def hold(self, responses: bool = False, commits: bool = False) -> None:
        name = "holding_responses" if responses else "holding_commits" if commits else "holding"
        self.loop.call_soon_threadsafe(setattr, self, name, True)

    def release(self) -> int:
        """Forward what was held for live clients; drop the rest. Returns the bytes dropped."""
        return asyncio.run_coroutine_threadsafe(self._release(), self.loop).result(10)

    async def _release(self) -> int:
        self.holding = self.holding_responses = self.holding_commits = False
        dropped = 0
        for pipe in list(self.pipes):
            if pipe.client_closed:
                dropped += sum(len(b) for b in pipe.held) + sum(len(b) for b in pipe.held_responses)
                pipe.held.clear()
                pipe.held_responses.clear()
                pipe.upstream_writer.close()
                pipe.client_writer.close()
                continue
            if pipe.held:
                for chunk in pipe.held:
                    pipe.upstream_writer.write(chunk)
                pipe.held.clear()
                with contextlib.suppress(ConnectionError, OSError):
                    await pipe.upstream_writer.drain()
            if pipe.held_responses:
                for chunk in pipe.held_responses:
                    pipe.client_writer.write(chunk)
                pipe.held_responses.clear()
                with contextlib.suppress(ConnectionError, OSError):
                    await pipe.client_writer.drain()
        self.dropped_bytes += dropped
        return dropped

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for pipe in list(self.pipes):
                for writer in (pipe.client_writer, pipe.upstream_writer):
                    with contextlib.suppress(Exception):
                        writer.close()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
