"""A session endpoint cannot hold a run: each attempt has a deadline for the whole exchange,
all attempts together a total one, and a cancelled run stops waiting at once. The endpoints
here are real HTTP servers on loopback that misbehave on purpose."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from agora_runner.errors import RunCancelled, SessionEndpointError
from agora_runner.runner import fetch_with_retries
from agora_runner.session import fetch_join_details
from agora_runner.types import CallerScript, CallSpec, SessionEndpointConfig


class Endpoint:
    """A loopback server; `behave(conn)` answers each connection."""

    def __init__(self, behave: Callable[[socket.socket, Endpoint], None]) -> None:
        self.behave = behave
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.cut_off = threading.Event()  # the client hung up before the answer was done
        self.finished = threading.Event()  # the whole answer went out
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/session"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._one, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                self.behave(conn, self)
                self.finished.set()
            except OSError:
                self.cut_off.set()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def endpoint() -> Iterator[Callable[..., Endpoint]]:
    made: list[Endpoint] = []

    def make(behave: Callable[[socket.socket, Endpoint], None]) -> Endpoint:
        made.append(Endpoint(behave))
        return made[-1]

    yield make
    for e in made:
        e.close()


BODY = (
    b'{"agora_app_id": "'
    + b"a" * 32
    + b'", "agora_channel": "room", "agora_token": "007eJxNOTAREALTOKEN"}'
)


def drip(every: float) -> Callable[[socket.socket, Endpoint], None]:
    """Headers at once, then the body a byte at a time: each read comes well within the
    per-read time-out, the whole answer takes len(BODY) * every seconds."""

    def behave(conn: socket.socket, server: Endpoint) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(BODY)
        )
        for byte in BODY:
            conn.sendall(bytes([byte]))
            server.cut_off.wait(every)

    return behave


def silent(conn: socket.socket, server: Endpoint) -> None:
    """Never answers; notes when the client hangs up."""
    conn.settimeout(30)
    while conn.recv(65536):  # the rest of the request, then nothing until the client hangs up
        pass
    server.cut_off.set()


def unavailable(conn: socket.socket, server: Endpoint) -> None:
    conn.sendall(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


def config(url: str, **kw: object) -> SessionEndpointConfig:
    return SessionEndpointConfig(
        **{"url": url, "client_id": "c", "secret": "s", "timeout_seconds": 5.0, **kw}
    )  # type: ignore[arg-type]


def test_an_endpoint_that_drips_its_answer_is_cut_off_at_the_deadline(
    endpoint: Callable[..., Endpoint],
) -> None:
    server = endpoint(drip(0.05))  # about 5 s in all
    with pytest.raises(SessionEndpointError, match=r"did not answer within 0.4 s") as err:
        fetch_join_details(config(server.url, deadline_seconds=0.4), join_uid=1)
    assert err.value.permanent is False  # a slow endpoint may be fine on the next try
    # The client hung up mid-answer: the drip never got to its last byte.
    assert server.cut_off.wait(5) and not server.finished.is_set()


def test_the_same_endpoint_is_fine_when_the_deadline_allows_it(
    endpoint: Callable[..., Endpoint],
) -> None:
    server = endpoint(drip(0.002))
    join = fetch_join_details(config(server.url, deadline_seconds=60.0), join_uid=1)
    assert join.channel == "room" and server.finished.wait(5)


def test_retries_stop_at_the_total_deadline(endpoint: Callable[..., Endpoint]) -> None:
    server = endpoint(unavailable)
    spec = CallSpec(
        endpoint=config(server.url, total_seconds=0.5), join_uid=1, caller=CallerScript()
    )
    # The wait before the second attempt (1 s) is longer than the total: one attempt is made.
    with pytest.raises(
        SessionEndpointError, match=r"no usable answer within 0.5 s, retries included"
    ):
        fetch_with_retries(spec)
    assert server.connections == 1


def test_a_cancelled_run_stops_waiting_for_its_endpoint(endpoint: Callable[..., Endpoint]) -> None:
    server = endpoint(silent)
    stop = threading.Event()
    spec = CallSpec(
        endpoint=config(
            server.url, timeout_seconds=30.0, deadline_seconds=30.0, total_seconds=60.0
        ),
        join_uid=1,
        caller=CallerScript(),
    )
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(RunCancelled, match="cancelled while its session endpoint was called"):
        fetch_with_retries(spec, stop=stop)
    assert server.connections == 1
    assert server.cut_off.wait(5)  # and the connection was dropped, not left open
