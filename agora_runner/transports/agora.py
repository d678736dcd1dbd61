"""Transport on Agora's server SDK (`agora-python-server-sdk`, the optional extra `agora`).

The SDK's native library is downloaded while the package builds, so on many machines it is
absent; importing it then raises ImportError/OSError or even calls sys.exit. It is imported
lazily and every such failure becomes a TransportUnavailable with install instructions.
"""
from __future__ import annotations

from typing import Any

from ..errors import TransportUnavailable
from ..types import JoinDetails
from .base import ChannelTransport

INSTALL_HINT = (
    "the Agora transport needs agora-python-server-sdk and its native library: "
    "install the extra with `pip install '.[agora]'` on a machine with internet access"
)


def load_sdk() -> Any:
    try:
        import agora.rtc.agora_service as agora_service  # type: ignore[import-not-found]
    except (ImportError, OSError, SystemExit) as exc:
        raise TransportUnavailable(f"{INSTALL_HINT} ({exc.__class__.__name__})") from None
    return agora_service


class AgoraTransport(ChannelTransport):
    name = "agora"

    async def connect(self, join: JoinDetails) -> list[int]:
        load_sdk()
        raise TransportUnavailable(
            "the Agora SDK transport is not implemented in this version; use an app id served by the local channel"
        )

    async def send(self, pcm: bytes) -> None:  # pragma: no cover - never connected
        raise TransportUnavailable(INSTALL_HINT)

    async def disconnect(self) -> None:
        return None
