"""Every number the timing analysis uses, in one place, each with why it is what it is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimingParams:
    # --- how the track is looked at ----------------------------------------------------------
    # Band powers of short Hann frames, one per millisecond: 8 ms is the shortest frame that
    # still resolves speech's bands (125 Hz bins), and a 1 ms hop places an edge to 1 ms.
    frame: int = 128  # samples (8 ms)
    hop: int = 16  # samples (1 ms)
    # Band edges (Hz), about a critical band wide where 125 Hz bins allow. The DC bin is
    # left out, so a constant offset moves nothing.
    bands_hz: tuple[int, ...] = (
        125,
        250,
        375,
        500,
        750,
        1000,
        1250,
        1500,
        2000,
        2500,
        3000,
        3500,
        4000,
        5000,
        6000,
        7000,
        8001,
    )
    # Power floor (dB re full scale, per band): digital silence reads as this, not -inf.
    floor_db: float = -110.0
    # A causal high-pass before looking at single samples: removes DC and most of mains hum
    # (50/60 Hz and its third harmonic), and little of speech, whose onsets carry energy above.
    highpass_hz: float = 200.0
    # Mains hum: its harmonics (of 50 or 60 Hz) that stand hum_line_db over the spectrum around
    # them in the background are notched (Q hum_notch_q: a few Hz wide) before single samples
    # are looked at; the high-pass leaves those from 150 Hz up, loud enough to hide an onset's
    # first milliseconds. Above hum_to_hz speech has far more energy than a hum's lines.
    hum_line_db: float = 15.0
    hum_notch_q: float = 30.0
    # A notch that narrow rings for a few hundred ms (its time constant 1/(pi * f/Q): 64 ms
    # at 150 Hz) where filtering starts in the middle of the hum: filtering starts this far
    # out of the stretch an edge is looked for in, for the ringing to fall 30 dB and more.
    hum_run_in_ms: int = 400
    hum_from_hz: float = 100.0
    hum_to_hz: float = 2000.0

    # --- the background --------------------------------------------------------------------
    # Each answer's background is the agent's track in the stretch before the caller stopped
    # (the agent listens then), up to this long, and never reaching back into the agent's
    # previous answer.
    background_s: float = 1.5
    background_min_s: float = 0.25  # with less, the turn is not measurable
    background_guard_s: float = 0.1  # left out after the agent's previous answer ended
    # The loudest the background got, per band, is what an answer must stand above: a quantile
    # rather than the maximum, so one click in the background does not blind a band.
    ceiling_quantile: float = 0.995
    # To stand out from the background a frame must pass the background's own ceiling of that
    # statistic by this much: quantiles of 1500 frames are coarse, and a periodic background
    # (hum) repeats values exactly, so merely passing one is no evidence.
    unlike_margin_db: float = 3.0
    # A background whose band powers, averaged over modulation_ms, spread this much (dB, in
    # the median band) moves at the pace of syllables: voices, music, a café. Steady noise of
    # any colour spreads about 1 dB so averaged; a few voices talking, 4 to 7 dB.
    fluctuating_db: float = 3.0
    # Music holds its overall level from chord to chord while its notes come and go band by
    # band: a background one of whose bands spreads this much so averaged, while its broadband
    # level spreads under fluctuating_db, moves too. Steady noise spreads at most about 2 dB
    # in any band; music's moving notes, 10 to 20 (a speech-like swing of the broadband level
    # with it is judged by the median band alone).
    fluctuating_band_db: float = 6.0
    modulation_ms: int = 30

    # --- finding an answer ---------------------------------------------------------------------
    # Sure speech: some band this far above the background's ceiling, in most frames of a
    # stretch this long (a click or a swell is shorter).
    sure_margin_db: float = 6.0
    sure_ms: int = 30
    sure_fraction: float = 0.7
    # …and within this of the answer's loudest moment (a synthesiser's hiss or a codec's
    # pre-echo stands over digital silence too).
    sure_range_db: float = 30.0
    # …and audible at all: no agent speaks 50 dB under ordinary speech (about −20 dBFS); a
    # codec's comfort noise between words can stand over digital silence at −100.
    sure_min_dbfs: float = -70.0
    # The edge: walking back from sure speech while some band stays above the lenient level,
    # the larger of the background's median plus this and its ceiling.
    lenient_db: float = 6.0
    # Gaps this short inside a rising answer are crossed: a lost 20 ms packet, zeroed.
    bridge_ms: int = 25
    # After an answer's last sure speech, a stop consonant's closure (up to ~120 ms of near
    # silence) can stand before its release, the true end: crossed on a quiet background.
    stop_bridge_ms: int = 150
    # In noise, the edge is a change point of the evidence of sound: per frame, the sum over
    # bands of how far each stands above evidence_z of its background's spreads. Background
    # frames give it a mean and a spread; walking from sure speech, each frame adds its
    # evidence less the background's mean and evidence_drift spreads, and the edge is where
    # the sum peaks. The walk gives up once it has fallen evidence_give_up spreads per
    # frame of sure_ms below that peak.
    evidence_z: float = 1.0
    evidence_drift: float = 1.0
    evidence_give_up: float = 3.0
    evidence_snr: float = 0.5  # the rise in power (linear) the change-point statistic is set for
    evidence_cap: float = 30.0  # a band's power ratio counts at most this much (one loud band)
    evidence_regions_hz: tuple[tuple[int, int], ...] = ((0, 1000), (1000, 3000), (3000, 8001))
    # A frame's window shows the change a little after the sound enters it: the onset is
    # taken this many samples before the end of the edge frame's window.
    onset_lag: int = 32
    # The time-domain edge (quiet backgrounds): the envelope (1 ms RMS, high-passed) must stay
    # this many times above the loudest of the background's and the floor just before.
    sample_margin: float = 2.0
    # A steady background this far under speech (high-passed): single samples are looked at.
    quiet_margin_db: float = 40.0
    follow_local_floor: bool = False
    spread_floor_db: float = 1.0  # a band's spread is never taken below this (digital silence)
    # The background's loudest 1 ms (what an edge on a quiet background must stand over) is
    # this quantile of its envelope, not the maximum: a short burst in the stretch (a click,
    # or a word of the agent's own that was missed) does not raise every edge's floor. The
    # band powers leave out the same share.
    envelope_quantile: float = 0.98

    # An answer's first sample is its first within answer_range_db of its loudest sample in
    # its first answer_reference_ms: the rule the caller's lines are edged by
    # (common.wav.speech_edges), so both ends of a latency are placed alike. What is quieter
    # still before an answer (a codec's pre-echo, a synthesiser's hiss) is not the answer.
    answer_range_db: float = 60.0
    answer_reference_ms: int = 300
    # A stop is the last sound within stop_range_db of the agent's loudest 1 ms around its last
    # sure speech: the weakest phonemes are about 30 dB under a word's vowels, and 20 dB more
    # allow for a word's last decay; a codec's ringing after a cut lies under that.
    stop_range_db: float = 50.0
    # On a quiet background, sound after a pause (shorter than a turn's) that stands over the
    # background within stop_range_db of the speech around it, one sound lasting resume_ms
    # (its parts within bridge_ms counted together), is more of the agent's speech, though too
    # short to be sure speech: a word cut 20 ms in, after a comma. A click (a key struck near
    # the microphone) lasts a few ms: a stop followed across a closure to a sound shorter than
    # this, or followed by such sounds, is in doubt.
    resume_ms: int = 10
    # A room's echo after the agent's last word dies away slowly and evenly down to silence (a
    # reverberation time of 0.3 s falls 0.2 dB per ms); a voice, however slowly its last sound
    # fades, ends at once as the mouth closes. Sound that keeps falling for more than
    # room_decay_ms after the last sure speech and room_decay_fall_db in all, never rising
    # room_decay_rise_db over the quietest it got nor falling room_decay_step_db in 5 ms (20 ms
    # averages), is a room's decay: the stop in it cannot be placed.
    room_decay_ms: int = 100
    room_decay_rise_db: float = 6.0  # a decaying echo's averages scatter ±3 dB
    # A voice's slowest last sound (a long "all") falls 20-25 dB before it ends; the echo falls
    # most of the stop's 50 dB range slowly.
    room_decay_fall_db: float = 30.0
    room_decay_step_db: float = 6.0  # 1.2 dB per ms: six times a 0.3 s room's decay

    # Weak consonants (h, f, th) lie this far under an answer's loudest moment, in the bands
    # from hidden_from_hz up. Steady noise that loud there can hide one.
    hidden_range_db: float = 30.0
    hidden_from_hz: int = 2000

    # "The agent did not answer" is said only when nothing stood over the background either:
    # for presence_ms together, its broadband level averaged over presence_ms (which steadies
    # a noise's level to within a dB or two) never came presence_margin_db over the
    # background's so averaged (its median: a background that still held some of the agent's
    # previous answer keeps its noise's level). Sound that did, but never as sure speech, is
    # an answer that cannot be placed.
    presence_ms: int = 100
    presence_margin_db: float = 6.0

    # --- measurability -------------------------------------------------------------------------
    # An answer whose first 20 ms stand less than this far above the background's ceiling in
    # its best band may have begun unheard under it: not measurable.
    strength_ms: int = 20
    min_strength_db: float = -1000.0
    # Over a fluctuating background, the answer must stand this far above its ceiling as it
    # begins…
    min_strength_fluctuating_db: float = 5.0
    # …and the agent's last sound before a stop this far.
    min_tail_fluctuating_db: float = 10.0
    # …and at its loudest (in its first 300 ms) this far over the loudest the background got,
    # broadband: where voices come closer, what stands out of them may be one of them.
    fluctuating_headroom_db: float = 20.0
    # Over voices, the walk back from sure speech is made twice, crossing dips of bridge_ms
    # and crossing none (over over_voices_bridge_ms); where the two end more than
    # over_voices_agree_ms apart, either side of the dip may be the answer's start (across
    # it, a syllable of the voices over their usual loudest was once taken for a faint "S",
    # 69 ms early), and the turn is not measurable. Where the voices' loudest lies
    # hidden_range_db or more under the answer's (so that even its weak consonants reach
    # them), a start found alike both ways is placed however weak it is.
    over_voices_bridge_ms: int = 1
    over_voices_agree_ms: float = 25.0
    # What stands less than this over the loudest a fluctuating background got, at its
    # loudest, is a burst of that background (voices come and go around their ceiling by a
    # few dB), not the agent: it is passed over in looking for the answer. Over a steady
    # background the margin is sure_margin_db: a level that holds while its spectrum moves
    # (a new chord of music) stands over the ceilings of some bands, but not over the
    # background's level, where an agent's speech stands far over any noise it is heard in.
    background_burst_db: float = 10.0
    # An answer's start rises to within sure_range_db of its loudest in well under this (the
    # bench's voices: at most 47 ms, per voice, at the 90th percentile): over voices or music,
    # an edge found further back from the answer's first sure speech, across sound most of
    # which (over weak_start_quiet_share) is no louder than the background got in all bands
    # together, may lie in the background (a chord sounding on into the answer): not
    # measurable.
    weak_start_ms: float = 100.0
    weak_start_quiet_share: float = 0.5


PARAMS = TimingParams()
