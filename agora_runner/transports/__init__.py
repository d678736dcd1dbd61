"""Channel transports. Which one a run uses is decided here, in one place."""

from __future__ import annotations

from ..channel.network import NetworkConditions
from ..types import JoinDetails
from .base import ChannelTransport


def select_transport(
    join: JoinDetails,
    *,
    local_app_ids: tuple[str, ...],
    local_address: str,
    local_network: NetworkConditions | None = None,
) -> ChannelTransport:
    """The local channel serves the app ids it is configured for; Agora serves the rest."""
    if join.app_id in local_app_ids:
        from .local import LocalChannelTransport

        return LocalChannelTransport(local_address, network=local_network)
    from .agora import AgoraTransport

    return AgoraTransport()
