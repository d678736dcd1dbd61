"""Opus on a member's uplink, as Agora carries audio: each frame is encoded, and decoded on the
far side; a lost packet is concealed by the decoder (its packet-loss concealment), and with
DTX a silence is sent as a trickle of comfort-noise updates.

libopus comes from the operating system (Debian's `libopus0`), through `opuslib-next`'s
ctypes binding; both are imported only when a channel asks for the codec, and a missing
library is a clear error.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE


class CodecUnavailable(RuntimeError):
    pass


def _opus() -> Any:
    try:
        import opuslib_next
        import opuslib_next.api.ctl
        import opuslib_next.api.decoder
        import opuslib_next.api.encoder
        import opuslib_next.constants
    except Exception as exc:  # the binding raises a bare Exception when libopus is missing
        raise CodecUnavailable(
            "the Opus codec needs libopus (Debian: apt-get install libopus0) and the opuslib-next "
            "package"
        ) from exc
    return opuslib_next


class OpusLink:
    """One sender's Opus encoder and the receiving side's decoder, mono at `rate` (the
    channel's 16 kHz unless asked otherwise).

    `carry(frame, lost)` takes one frame of int16 PCM (2.5 to 60 ms; the channel uses 10 ms)
    and returns what the receiver plays for it. The codec delays the audio by `delay`
    samples (its look-ahead, 6.5 ms: 104 at 16 kHz)."""

    def __init__(
        self,
        *,
        bitrate: int = 24000,
        dtx: bool = False,
        fec: bool = False,
        expected_loss_percent: int = 0,
        rate: int = SAMPLE_RATE,
    ) -> None:
        opus = _opus()
        api, ctl, k = opus.api, opus.api.ctl, opus.constants
        self._api = api
        self._encoder = opus.Encoder(rate, 1, opus.APPLICATION_VOIP)
        self._encoder.bitrate = int(bitrate)
        state = self._encoder.encoder_state
        api.encoder.encoder_ctl(state, ctl.ctl_set(k.SET_DTX_REQUEST), int(dtx))
        api.encoder.encoder_ctl(state, ctl.ctl_set(k.SET_INBAND_FEC_REQUEST), int(fec))
        api.encoder.encoder_ctl(
            state, ctl.ctl_set(k.SET_PACKET_LOSS_PERC_REQUEST), int(expected_loss_percent)
        )
        self.delay = int(
            api.encoder.encoder_ctl(state, ctl.get(k.GET_LOOKAHEAD_REQUEST, ctypes.c_int32))
        )
        self._decoder = opus.Decoder(rate, 1)

    def carry(self, frame: np.ndarray, lost: bool = False) -> np.ndarray:
        pcm = np.ascontiguousarray(frame, dtype=np.int16)
        packet = self._encoder.encode(pcm.tobytes(), len(pcm))
        if lost:
            # No packet: the decoder conceals the gap from what it has heard (NULL data).
            out = self._api.decoder.decode(self._decoder.decoder_state, None, 0, len(pcm), False, 1)
        else:
            out = self._decoder.decode(packet, len(pcm))
        return np.frombuffer(out, dtype=np.int16)
