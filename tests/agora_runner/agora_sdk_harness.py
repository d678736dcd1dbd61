"""The Agora server SDK's own Python layer, with only its native library replaced.

`agora-python-server-sdk` cannot be installed here (its build downloads a native library),
but its sdist holds the real Python classes. This harness downloads the pinned sdist from the
package registry, imports its `agora.rtc` modules with `ctypes.CDLL` answering a FakeNativeLib,
and skips only the package's own downloader (`agora/__init__.py`).

FakeNativeLib checks every native call against the `argtypes` the SDK itself declares (the
count, and that ctypes would convert each argument), records the calls in order, and plays the
native side's part from its own thread: it calls back the observer structures the SDK
registered (on_connected, on_user_joined, audio frames, on_user_left, …) as the real library
does. A method our code calls that the SDK classes lack, or arguments they refuse, fail here.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tarfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SDK_VERSION = "2.4.10"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "agora-sdk"


def sdk_source() -> Path:
    """The extracted sdist's folder holding the `agora` package (downloaded once)."""
    root = CACHE / f"agora_python_server_sdk-{SDK_VERSION}"
    if (root / "agora" / "rtc" / "agora_service.py").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"agora-python-server-sdk=={SDK_VERSION}",
            "-d",
            str(CACHE),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    with tarfile.open(CACHE / f"agora_python_server_sdk-{SDK_VERSION}.tar.gz") as tar:
        tar.extractall(CACHE, filter="data")
    return root


class FakeFunction:
    def __init__(self, lib: FakeNativeLib, name: str) -> None:
        self.lib, self.name = lib, name
        self.restype: Any = ctypes.c_int  # ctypes' own default
        self.argtypes: list[Any] | None = None

    def __call__(self, *args: Any) -> Any:
        if self.argtypes is not None:
            if len(args) != len(self.argtypes):
                raise TypeError(
                    f"{self.name}() takes {len(self.argtypes)} arguments, {len(args)} given"
                )
            for i, (kind, arg) in enumerate(zip(self.argtypes, args, strict=True)):
                try:
                    kind.from_param(arg)
                except Exception as exc:
                    raise ctypes.ArgumentError(f"{self.name}() argument {i + 1}: {exc}") from exc
        with self.lib.lock:
            self.lib.calls.append((self.name, args))
        handler = getattr(self.lib, "do_" + self.name, None)
        if handler is not None:
            return handler(*args)
        return self.lib.default(self.restype)


class FakeNativeLib:
    """Stands in for libagora_rtc_sdk.so; `remote` scripts the other side of the channel."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._functions: dict[str, FakeFunction] = {}
        self._next_handle = 0x1000
        self.conn_observers: dict[int, Any] = {}
        self.audio_observer: Any = None
        self.user_handle: int | None = None
        self.pushed = bytearray()
        self.remote: Callable[[FakeNativeLib, int, str, str, str], None] | None = None
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __getattr__(self, name: str) -> FakeFunction:
        if name.startswith("_") or name.startswith("do_"):
            raise AttributeError(name)
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = FakeFunction(self, name)
        return fn

    def default(self, restype: Any) -> Any:
        if restype is None:
            return None
        if restype is ctypes.c_void_p:
            self._next_handle += 16
            return self._next_handle
        if restype is ctypes.c_char_p:
            return b""
        if isinstance(restype, type) and issubclass(restype, ctypes._Pointer):
            return restype()
        return 0

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    # --- native behaviour the tests rely on -------------------------------------------------
    def do_agora_rtc_conn_get_local_user(self, conn: Any) -> int:
        self.user_handle = self.default(ctypes.c_void_p)
        return self.user_handle

    def do_agora_rtc_conn_register_observer(self, conn: Any, observer: Any) -> int:
        self.conn_observers[int(conn)] = observer
        return 0

    def do_agora_local_user_register_audio_frame_observer(self, user: Any, observer: Any) -> int:
        self.audio_observer = observer
        return 0

    def do_agora_rtc_conn_connect(self, conn: Any, token: Any, channel: Any, uid: Any) -> int:
        args = (int(conn), token.value.decode(), channel.value.decode(), uid.value.decode())
        if self.remote is not None:
            self._thread = threading.Thread(target=self.remote, args=(self, *args), daemon=True)
            self._thread.start()
        return 0

    def do_agora_rtc_conn_disconnect(self, conn: Any) -> int:
        self.stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        return 0

    def do_agora_audio_pcm_data_sender_send(self, sender: Any, *rest: Any) -> int:
        return 0

    # --- helpers a remote script uses (they run on the fake native thread) ------------------
    def connected(self, conn: int, channel: str, uid: str) -> None:
        from agora.rtc._ctypes_handle._ctypes_data import RTCConnInfoInner

        info = RTCConnInfoInner(
            id=1,
            channel_id=channel.encode(),
            state=3,
            local_user_id=uid.encode(),
            internal_uid=int(uid),
        )
        self.conn_observers[conn].on_connected(conn, ctypes.pointer(info), 1)

    def connection_failure(self, conn: int, channel: str, uid: str, reason: int) -> None:
        from agora.rtc._ctypes_handle._ctypes_data import RTCConnInfoInner

        info = RTCConnInfoInner(
            id=1,
            channel_id=channel.encode(),
            state=5,
            local_user_id=uid.encode(),
            internal_uid=int(uid),
        )
        self.conn_observers[conn].on_connection_failure(conn, ctypes.pointer(info), reason)

    def user_joined(self, conn: int, uid: str) -> None:
        self.conn_observers[conn].on_user_joined(conn, uid.encode())

    def user_left(self, conn: int, uid: str) -> None:
        self.conn_observers[conn].on_user_left(conn, uid.encode(), 0)

    def token_expired(self, conn: int) -> None:
        self.conn_observers[conn].on_token_privilege_did_expire(conn)

    def encryption_error(self, conn: int) -> None:
        self.conn_observers[conn].on_encryption_error(conn, 1)

    def play(self, channel: str, uid: str, pcm: bytes) -> None:
        """Deliver remote audio as 10 ms frames, in real time, like the SDK's playback thread."""
        from agora.rtc._ctypes_handle._ctypes_data import AudioFrameInner

        start = time.monotonic()
        for k, i in enumerate(range(0, len(pcm) - 319, 320)):
            if self.stop.is_set():
                return
            buf = ctypes.create_string_buffer(pcm[i : i + 320], 320)
            frame = AudioFrameInner(
                type=0,
                samples_per_channel=160,
                bytes_per_sample=2,
                channels=1,
                samples_per_sec=16000,
                buffer=ctypes.cast(buf, ctypes.c_void_p),
            )
            self.audio_observer.on_playback_audio_frame_before_mixing(
                self.user_handle, channel.encode(), uid.encode(), ctypes.pointer(frame)
            )
            delay = start + (k + 1) * 0.01 - time.monotonic()
            if delay > 0:
                time.sleep(delay)


@contextmanager
def agora_sdk() -> Iterator[FakeNativeLib]:
    """Import the SDK's Python layer over a FakeNativeLib; undo everything afterwards."""
    root = sdk_source()
    lib = FakeNativeLib()
    saved = {k: v for k, v in sys.modules.items() if k == "agora" or k.startswith("agora.")}
    for k in saved:
        del sys.modules[k]
    # The package's __init__ is only the downloader of the native library: replaced.
    pkg = types.ModuleType("agora")
    pkg.__path__ = [str(root / "agora")]  # type: ignore[attr-defined]
    pkg.sdk_library_dir = pkg.sdk_rtc_dir = pkg.sdk_rtm_dir = pkg.sdk_root_dir = str(
        root / "agora" / "agora_sdk"
    )  # type: ignore[attr-defined]
    sys.modules["agora"] = pkg
    real_cdll = ctypes.CDLL
    ctypes.CDLL = lambda *a, **k: lib  # type: ignore[assignment, misc]
    try:
        import agora.rtc.agora_service  # noqa: F401
        import agora.rtc.rtc_connection  # noqa: F401
    finally:
        ctypes.CDLL = real_cdll  # type: ignore[misc]
    from agora_runner.transports import agora as transport_module

    transport_module.SERVICES.release_all()
    try:
        yield lib
    finally:
        lib.stop.set()
        transport_module.SERVICES.release_all()
        for k in [k for k in sys.modules if k == "agora" or k.startswith("agora.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        os.environ.pop("AGORA_FAKE", None)
