"""Where an answer starts and where the agent stops, each judged against the background just
before the answer, with a word on whether it could be placed at all.

Two steps. First, *sure speech*: frames where some band stands far over anything the
background did, for most of a short stretch, near speech's own level. Then the *edge* of that
speech, found back (or forward) from it:
- on a quiet background (digital silence, hiss, low comfort noise or hum), on single samples:
  the high-passed envelope is followed back while it stays above the floor just before it;
- in noise, as a change point: the frame before which the evidence of sound (each band's
  excess over its background, in the background's own spread) stops adding up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .background import FLUCTUATING, SILENCE, STEADY, Background, averaged_db, frames_of
from .params import PARAMS, TimingParams
from .signal import (
    SAMPLE_RATE,
    Track,
    bands_of,
    broadband_db,
    envelope,
    highpass,
    peak_envelope,
    region_evidence,
)


@dataclass(frozen=True)
class Edge:
    sample: int | None
    measurable: bool
    reason: str = ""
    strength_db: float | None = None


def _ms(ms: float, p: TimingParams) -> int:
    """Milliseconds in frames."""
    return max(1, int(round(ms * SAMPLE_RATE / 1000 / p.hop)))


def _window_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Per frame t, the max of x[t - before : t + after + 1]."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(before, -np.inf), x, np.full(after, -np.inf)])
    peaks: np.ndarray = sliding_window_view(padded, before + after + 1).max(axis=1)
    return peaks


@dataclass(frozen=True)
class Analysis:
    """One stretch of track against a background; frame f covers samples
    [origin + f·hop, origin + f·hop + frame)."""

    origin: int
    level: np.ndarray  # broadband dB
    nearby: np.ndarray  # the loudest level within answer_reference_ms either side
    over: np.ndarray  # dB the most prominent band stands over the background's ceiling
    sure: np.ndarray
    bands: np.ndarray = field(repr=False)
    bg: Background = field(repr=False)
    p: TimingParams = field(repr=False)

    @cached_property
    def evidence(self) -> np.ndarray:
        """Per frame and band region, the evidence of sound, in the background's own units:
        frames of background give it mean 0 and spread 1; less evidence_drift, they add less
        than nothing. Only an edge found in noise reads it: worked out when first asked for."""
        if not len(self.bands):
            return np.zeros(0)
        bg, p = self.bg, self.p
        evidence: np.ndarray = (
            region_evidence(self.bands, bg.power, p) - bg.evidence_mean[None, :]
        ) / bg.evidence_spread[None, :] - p.evidence_drift
        return evidence

    def frame_of(self, sample: int, p: TimingParams = PARAMS) -> int:
        """The first frame whose window ends after `sample`."""
        return max(0, -(-(sample - self.origin - p.frame + 1) // p.hop))

    def sample_of(self, frame: int, p: TimingParams = PARAMS) -> int:
        return self.origin + frame * p.hop

    def regions(self, p: TimingParams = PARAMS) -> list[tuple[int, int]]:
        """(first, last) sure frames of stretches of sure speech, across gaps of bridge_ms."""
        idx = np.flatnonzero(self.sure)
        if not len(idx):
            return []
        breaks = np.flatnonzero(np.diff(idx) > _ms(p.bridge_ms, p) + 1)
        firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
        lasts = np.concatenate([idx[breaks], [idx[-1]]])
        return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def analyse(
    track: np.ndarray | Track, bg: Background, lo: int, hi: int, p: TimingParams = PARAMS
) -> Analysis:
    origin, bands = bands_of(track, max(0, lo - p.frame), hi, p)
    if not len(bands):
        empty = np.zeros(0)
        return Analysis(origin, empty, empty, empty, np.zeros(0, dtype=bool), bands, bg, p)
    level = broadband_db(bands)
    reach = _ms(p.answer_reference_ms, p)
    nearby = _window_max(level, reach, reach)
    over = bg.over_ceiling(bands)
    loud = (
        (over > p.sure_margin_db) & (level >= nearby - p.sure_range_db) & (level >= p.sure_min_dbfs)
    )
    n = _ms(p.sure_ms, p)
    c = np.concatenate([[0.0], np.cumsum(loud)])
    t = np.arange(len(loud))
    share = (c[np.minimum(t + n, len(loud))] - c[t]) / n  # of frames t .. t+n-1
    return Analysis(origin, level, nearby, over, loud & (share >= p.sure_fraction), bands, bg, p)


def _change_point(
    a: Analysis, bg: Background, start: int, limit: int, step: int, p: TimingParams
) -> int:
    """From sure frame `start`, going by `step` (−1: back to an onset, +1: on to a stop) no
    further than `limit`: per band region, the frame where the cumulative evidence (a
    log-likelihood ratio of sound against background) is largest, which is the maximum-
    likelihood change point; the outermost of the regions'."""
    # Sure speech comes within answer_reference_ms of where speech starts (ends).
    reach = _ms(p.answer_reference_ms, p)
    limit = max(limit, start - reach) if step < 0 else min(limit, start + reach)
    if (limit - start) * step <= 0:
        return start
    span = np.arange(start, limit + step, step)
    span = span[(span >= 0) & (span < len(a.evidence))]
    cumulative = np.cumsum(a.evidence[span], axis=0)
    found = [int(span[int(np.argmax(cumulative[:, r]))]) for r in range(cumulative.shape[1])]
    return min(found) if step < 0 else max(found)


def _starts_with_consonant(a: Analysis, edge: int, step: int, p: TimingParams) -> bool:
    """Is the sound just inside the edge mostly in the high bands (a fricative, a burst)
    rather than the low ones (a vowel, a nasal)?"""
    n = _ms(15, p)
    window = a.evidence[edge : edge + n] if step < 0 else a.evidence[max(0, edge - n) : edge + 1]
    if not len(window):
        return False
    low, high = 0, len(p.evidence_regions_hz) - 1
    return float(window[:, high].mean()) > float(window[:, low].mean())


def _ceiling_walk(
    a: Analysis, start: int, limit: int, step: int, p: TimingParams, bridge_ms: int = 0
) -> int:
    """From sure frame `start`, the farthest frame (by `step`, not past `limit`) still above
    the background's ceiling in some band, across gaps of bridge_ms (by default the params'):
    over a background that moves (voices, music), only what stands above all of it is the
    agent. Sound stop_range_db under the speech around it is not speech (over digital silence,
    a codec's ±1 dither stands above the background too)."""
    above = (a.over > p.unlike_margin_db) & (a.level >= a.nearby - p.stop_range_db)
    bridge = _ms(bridge_ms or p.bridge_ms, p)
    reach = _ms(p.answer_reference_ms, p)
    limit = max(limit, start - reach) if step < 0 else min(limit, start + reach)
    edge, i, gap = start, start, 0
    while (i - limit) * step < 0 and 0 <= i + step < len(above):
        i += step
        if above[i]:
            edge, gap = i, 0
        else:
            gap += 1
            if gap > bridge:
                break
    return edge


def _follow(env: np.ndarray, start: int, threshold: float, step: int, bridge: int) -> int:
    """From `start`, the last sample (going by `step`) where env ≥ threshold, crossing gaps of
    up to `bridge` samples."""
    above = env >= threshold
    edge, i, gap = start, start, 0
    while 0 <= i + step < len(env):
        i += step
        if above[i]:
            edge, gap = i, 0
        else:
            gap += 1
            if gap > bridge:
                break
    return edge


def _lasting(above: np.ndarray, keep: int, n: int, join: int) -> np.ndarray:
    """`above` without the sounds shorter than n samples (a sound: runs of it within `join`
    samples of each other), but the one holding sample `keep`."""
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = above.copy()
    k = 0
    while k < len(starts):
        first, last = k, k
        while last + 1 < len(starts) and starts[last + 1] - ends[last] <= join:
            last += 1
        lo, hi = int(starts[first]), int(ends[last])
        if hi - lo < n and not lo <= keep < hi:
            out[lo:hi] = False
        k = last + 1
    return out


def _quiet_edge(
    track: np.ndarray | Track,
    bg: Background,
    sure_sample: int,
    limit: int,
    step: int,
    p: TimingParams,
    line_peak: float | None = None,
) -> int:
    """On a quiet background, the sample where the answer's sound rises out of (sinks into)
    what lies just before (after) it: digital silence, hiss, comfort noise, a hum's remains.
    With `line_peak` (the loudest sample of a whole line as recorded, less its offset), an
    end is placed as an onset is: the last sample within answer_range_db of it."""
    span = int(0.3 * SAMPLE_RATE)
    reference = int(p.answer_reference_ms * SAMPLE_RATE / 1000)
    lo, hi = (
        (max(limit, sure_sample - span), sure_sample + reference)
        if step < 0
        else (sure_sample - int(0.05 * SAMPLE_RATE), min(limit, sure_sample + span))
    )
    lo, hi = max(0, lo), min(len(track), hi)
    seg = track[lo:hi]
    if line_peak is not None and bg.kind == SILENCE:
        # Over digital silence nothing needs filtering out: the samples as recorded, as the
        # authored end is placed on them.
        hp = seg.astype(np.float64) - float(np.median(seg))
    else:
        # Filtered towards the edge (never moving it outward). A hum's notches are narrow, and
        # ring for a few hundred ms from where filtering starts in the middle of the hum: they
        # are started further out (and that stretch dropped), up to `limit` (beyond it lies
        # other speech, whose ringing would come back in), so that their ringing has died
        # down before the edge is looked for.
        if step < 0:
            hp = _highpassed(track, bg, lo, hi, limit, p)
        else:
            run_in = int(p.hum_run_in_ms * SAMPLE_RATE / 1000) if bg.hum else 0
            stop = min(len(track), max(hi, limit), hi + run_in)
            hp = highpass(track[lo:stop][::-1], p, bg.hum)[::-1][: hi - lo]
    env = peak_envelope(hp) if line_peak is not None else envelope(hp)
    at = sure_sample - lo
    bridge = int((p.bridge_ms if step < 0 else p.stop_bridge_ms) * SAMPLE_RATE / 1000)
    # First, the speech's own range: an answer's loudest sample in its first
    # answer_reference_ms, or the loudest 1 ms around a stop; nothing further under it than
    # the range is part of it.
    if step < 0:
        peak, span_db = (float(np.abs(hp).max()) if len(hp) else 0.0), p.answer_range_db
    elif line_peak is not None:
        peak, span_db = line_peak, p.answer_range_db
    else:
        peak, span_db = (float(env.max()) if len(env) else 0.0), p.stop_range_db
    floor = _floor(peak, span_db, bg, p)
    edge = _follow(env, at, floor, step, bridge)
    # Then down to the floor just outside that (hiss, comfort noise), if the sound keeps
    # rising out of it there.
    outside = (
        env[max(0, edge - int(0.03 * SAMPLE_RATE)) : max(0, edge - int(0.003 * SAMPLE_RATE))]
        if step < 0
        else env[edge + int(0.003 * SAMPLE_RATE) : edge + int(0.03 * SAMPLE_RATE)]
    )
    local = float(np.median(outside)) if len(outside) else 0.0
    lower = max(p.sample_margin * local, p.sample_margin * bg.envelope_peak, 1.0)
    if lower < floor and p.follow_local_floor:
        edge = _follow(env, edge, lower, step, int(0.002 * SAMPLE_RATE))
    # The envelope spans half a millisecond either side: the edge is the first (last) sample
    # inside it that reaches the threshold itself.
    n = SAMPLE_RATE // 2000
    near = np.abs(hp[max(0, edge - n) : edge + n + 1])
    hits = np.flatnonzero(near >= (lower if (lower < floor and p.follow_local_floor) else floor))
    if len(hits):
        edge = max(0, edge - n) + int(hits[0] if step < 0 else hits[-1])
    return lo + edge


def _highpassed(
    track: np.ndarray | Track, bg: Background, lo: int, hi: int, limit: int, p: TimingParams
) -> np.ndarray:
    """track[lo:hi] high-passed (and a hum notched out) forward; a hum's notches started
    hum_run_in_ms further out, no earlier than `limit`, their ringing there dropped."""
    run_in = int(p.hum_run_in_ms * SAMPLE_RATE / 1000) if bg.hum else 0
    start = max(0, limit, lo - run_in)
    out: np.ndarray = highpass(track[start:hi], p, bg.hum)[lo - start :]
    return out


def _floor(peak: float, range_db: float, bg: Background, p: TimingParams) -> float:
    """What a sample's envelope must reach to be sound: within range_db of `peak` (the
    speech's own range) and sample_margin over the loudest of the background's."""
    return max(peak * 10 ** (-range_db / 20), p.sample_margin * bg.envelope_peak, 1.0)


def _resumed(a: Analysis, bg: Background, stop: int, until: int, p: TimingParams) -> int | None:
    """The agent's speech taking up again after a pause longer than a closure (what the edge
    at sample `stop` was followed across) and before sample `until`, though too short to be
    sure speech: the last frame that stands over the background (in some band, and in all
    of them together) within stop_range_db of the speech around it, in a sound lasting
    resume_ms; None if there is none."""
    # frames holding nothing up to a closure's length after the stop
    first = max(0, -(-(stop - a.origin) // p.hop) + _ms(p.stop_bridge_ms, p))
    last = a.frame_of(until, p)
    level, nearby = a.level[first:last], a.nearby[first:last]
    loud = (
        (a.over[first:last] > p.sure_margin_db)
        & (level > bg.level_ceiling_dbfs + p.sure_margin_db)
        & (level >= np.maximum(nearby - p.stop_range_db, p.sure_min_dbfs))
    )
    # One sound of resume_ms (a frame spans frame/hop − 1 more than the sound in it), its
    # parts within bridge_ms counted together: clicks are not added up into speech.
    lasting = _lasting(loud, -1, _ms(p.resume_ms, p) + p.frame // p.hop - 1, _ms(p.bridge_ms, p))
    idx = np.flatnonzero(lasting)
    return first + int(idx[-1]) if len(idx) else None


def _quiet(track: np.ndarray | Track, bg: Background, sure_sample: int, p: TimingParams) -> bool:
    """Quiet enough for single samples to tell: digital silence, or a steady background whose
    high-passed envelope stays quiet_margin_db under the speech's (hiss, low comfort noise,
    what a high-pass leaves of hum)."""
    if bg.kind == SILENCE:
        return True
    if bg.kind != STEADY:
        return False
    seg = track[
        max(0, sure_sample - 160) : sure_sample + int(p.answer_reference_ms * SAMPLE_RATE / 1000)
    ]
    peak = float(envelope(highpass(seg, p, bg.hum)).max()) if len(seg) else 0.0
    return peak > 0 and 20 * np.log10(peak / max(bg.envelope_peak, 1e-3)) >= p.quiet_margin_db


def _strength(a: Analysis, first: int, p: TimingParams) -> float:
    n = _ms(p.strength_ms, p)
    return (
        float(np.mean(np.maximum(a.over[first : first + n], -30.0)))
        if first < len(a.over)
        else -30.0
    )


def _present(
    a: Analysis, bg: Background, first: int, p: TimingParams, last: int | None = None
) -> bool:
    """From frame `first` on (to frame `last`, not included), did the level averaged over
    presence_ms stand presence_margin_db over the background's so averaged, for presence_ms
    together?"""
    level = a.level[first:last]
    if not len(level):
        return False
    over = averaged_db(level, p.presence_ms, p) > bg.presence_floor_dbfs + p.presence_margin_db
    n = frames_of(p.presence_ms, p)
    run = np.convolve(over.astype(np.int64), np.ones(n, dtype=np.int64), mode="valid")
    return bool(len(run) and run.max() >= n)


def _headroom(
    a: Analysis, bg: Background, first: int, p: TimingParams, last: int | None = None
) -> float:
    """How far (dB, broadband) the loudest moment within answer_reference_ms of frame `first`
    (and no later than frame `last`) stands over the loudest the background got."""
    end = first + _ms(p.answer_reference_ms, p)
    if last is not None:
        end = min(end, last + 1)
    return float(a.level[first:end].max()) - bg.level_ceiling_dbfs if first < len(a.level) else 0.0


def _agent_regions(
    a: Analysis, bg: Background, first_allowed: int, p: TimingParams
) -> list[tuple[int, int]]:
    """The stretches of sure speech that are the agent's. What stands in some band over the
    background's ceiling but, at its loudest, barely over the loudest the background got in
    all bands together is more of the background, whose spectrum moved (a burst of voices, a
    new chord of music over a level that holds): over voices or music it must stand
    background_burst_db over, over a steady background sure_margin_db, as any sure speech.
    A stretch that follows the agent's own within a closure is its own, however faint (the
    last of a word)."""
    every = a.regions(p)
    if bg.kind == SILENCE:
        return every
    margin = p.background_burst_db if bg.kind == FLUCTUATING else p.sure_margin_db
    closure = _ms(p.stop_bridge_ms, p)
    kept: list[tuple[int, int]] = []
    for r in every:
        at = r[0] if r[1] < first_allowed else max(r[0], first_allowed)
        follows = bool(kept) and r[0] - kept[-1][1] <= closure
        if follows or _headroom(a, bg, at, p, r[1]) >= margin:
            kept.append(r)
    return kept


def _bursts(a: Analysis, kept: list[tuple[int, int]], p: TimingParams) -> list[tuple[int, int]]:
    """The stretches of sure speech passed over as the background's own (not in `kept`)."""
    return [r for r in a.regions(p) if r not in kept]


def _after_falling_silent(
    every: list[tuple[int, int]], first_allowed: int, p: TimingParams
) -> list[tuple[int, int]] | None:
    """The stretches from the agent's answer on: all those ending after the caller did, unless
    the agent was still speaking then (or paused no longer than a consonant's closure around
    that moment), when its answer is what it says after it falls silent for longer (None if
    it never does)."""
    closure, bridge = _ms(p.stop_bridge_ms, p), _ms(p.bridge_ms, p)
    regions = [r for r in every if r[1] >= first_allowed]
    earlier = [r for r in every if r[1] < first_allowed]
    if not regions or (
        regions[0][0] >= first_allowed - bridge
        and not (earlier and regions[0][0] - earlier[-1][1] <= closure)
    ):
        return regions
    end = regions[0][1]
    later: list[tuple[int, int]] = []
    for r in regions[1:]:
        if later or r[0] - end > closure:
            later.append(r)
        else:
            end = r[1]
    return later or None


def _unanswered(a: Analysis, bg: Background, first_allowed: int, p: TimingParams) -> Edge:
    """No sure speech of the agent's after the caller stopped: why."""
    if bg.kind == FLUCTUATING:
        # Over voices or music, an answer under their level leaves no sure speech either.
        return Edge(
            None,
            False,
            "the background moves like voices or music and nothing in it stood out as the "
            "agent's answer",
        )
    if bg.kind != SILENCE and _present(a, bg, first_allowed, p):
        return Edge(
            None,
            False,
            "something stood over the background noise where the answer would be, but never "
            "clearly enough to be placed as the agent's speech",
        )
    return Edge(None, True, "the agent did not answer")


def _fluctuating_onset(
    a: Analysis, bg: Background, first: int, limit: int, lo: int, p: TimingParams
) -> Edge:
    edge = _ceiling_walk(a, first, limit, -1, p)
    sample = max(a.sample_of(edge, p) + p.frame - p.onset_lag, lo)
    strength = _strength(a, edge, p)
    headroom = _headroom(a, bg, edge, p)
    # Walking back from sure speech crossing dips and crossing none: where the two end apart,
    # either side of the dip may be the answer's start (or a burst of the voices).
    unbroken = _ceiling_walk(a, first, limit, -1, p, p.over_voices_bridge_ms)
    doubt_ms = (unbroken - edge) * p.hop * 1000 / SAMPLE_RATE
    placed = (
        Edge(sample, True, "", strength)
        if doubt_ms <= p.over_voices_agree_ms
        else Edge(
            sample,
            False,
            "the background moves like voices or music, and a dip in the answer's first sound "
            f"under their loudest leaves its start in doubt by {doubt_ms:.0f} ms",
            strength,
        )
    )
    if headroom >= p.hidden_range_db:
        # Voices far under the answer (even its weak sounds reach them): a weak start found
        # alike both ways is placed, however weak.
        return placed
    if strength < p.min_strength_fluctuating_db or headroom < p.fluctuating_headroom_db:
        return Edge(
            sample,
            False,
            "the background moves like voices or music, and the answer stood only "
            f"{strength:.0f} dB above it "
            f"as it began and {headroom:.0f} dB at its loudest (needs "
            f"{p.min_strength_fluctuating_db:.0f} and "
            f"{p.fluctuating_headroom_db:.0f})",
            strength,
        )
    return placed


def _noise_onset(
    a: Analysis, bg: Background, first: int, limit: int, lo: int, p: TimingParams
) -> Edge:
    first_allowed = a.frame_of(lo, p)
    edge = _change_point(a, bg, first, limit, -1, p)
    sample = max(a.sample_of(edge, p) + p.frame - p.onset_lag, lo)
    if edge <= limit and limit > 0:
        # The evidence of sound runs on back to where the search must stop (the caller's line,
        # or the agent's own speech before): the answer's start cannot be told from that.
        return Edge(
            sample,
            False,
            "the agent's sound runs back into the caller's line or into its own speech before: "
            "where its answer begins cannot be told",
        )
    if _present(a, bg, max(limit, first_allowed), p, edge):
        # Something stood over the noise before the start found, too faint to be sure of: a
        # weak first word, whose answer would be placed at the next one.
        return Edge(
            sample,
            False,
            "something stood over the background noise before the answer's clear start, never "
            "clearly enough to be placed: the answer may begin with a word too faint to place",
        )
    # A weak first consonant (h, f, th) can lie under steady noise unseen, and the answer then
    # seems to begin at its vowel. When the noise in the consonants' bands comes within
    # hidden_range_db of the answer's loudest moment, and its start showed in the vowels'
    # bands only, that start cannot be trusted.
    reach = _ms(p.answer_reference_ms, p)
    peak = float(a.level[edge : edge + reach].max()) if edge < len(a.level) else -200.0
    if bg.high_band_db >= peak - p.hidden_range_db and not _starts_with_consonant(a, edge, -1, p):
        return Edge(
            sample,
            False,
            f"the noise is loud where weak consonants lie ({peak - bg.high_band_db:.0f} dB under "
            "the answer's "
            "loudest moment): a first consonant may be hidden under it",
        )
    return Edge(sample, True, "")


def find_onset(
    track: np.ndarray | Track, bg: Background, lo: int, hi: int, p: TimingParams = PARAMS
) -> Edge:
    """The first sample of the agent's first speech in [lo, hi)."""
    # Looked at from a closure's length before the caller stopped: speech the agent was still
    # at then is not its answer.
    a = analyse(track, bg, lo - int(0.05 * SAMPLE_RATE) - _ms(p.stop_bridge_ms, p) * p.hop, hi, p)
    first_allowed = a.frame_of(lo, p)
    every = _agent_regions(a, bg, first_allowed, p)
    regions = _after_falling_silent(every, first_allowed, p)
    if regions is None:
        return Edge(None, False, "the agent was already speaking when the caller stopped")
    if not regions:
        return _unanswered(a, bg, first_allowed, p)
    first = max(regions[0][0], first_allowed)
    limit = max(0, first_allowed - _ms(50, p))
    # The edge is never looked for in the agent's speech before the answer (what it was still
    # saying as the caller stopped): that stands out of the background too.
    before = [r[1] for r in every if r[1] < regions[0][0]]
    if before:
        limit = max(limit, max(before) + _ms(p.bridge_ms, p))
    if _quiet(track, bg, a.sample_of(first, p), p):
        sample = _quiet_edge(
            track,
            bg,
            a.sample_of(first, p) + p.frame // 2,
            max(0, lo - int(0.05 * SAMPLE_RATE)),
            -1,
            p,
        )
        return Edge(max(sample, lo), True, "")
    if bg.kind == FLUCTUATING:
        return _long_start(a, bg, first, _fluctuating_onset(a, bg, first, limit, lo, p), p)
    return _noise_onset(a, bg, first, limit, lo, p)


def _long_start(a: Analysis, bg: Background, first: int, found: Edge, p: TimingParams) -> Edge:
    """Over voices or music, `found`, unless its edge lies more than weak_start_ms before the
    answer's first sure frame across sound mostly no louder than the background got (in all
    bands together): what stands over the background's ceilings there may be the background
    (a chord sounding on into the answer), not the answer's weak start. (Over steady noise
    the change point's evidence is the noise's own measure, and a long weak start found by
    it holds.)"""
    if not found.measurable or found.sample is None:
        return found
    edge = a.frame_of(found.sample, p)
    span = a.level[edge:first]
    long_ms = (first - edge) * p.hop * 1000 / SAMPLE_RATE
    if long_ms <= p.weak_start_ms or not len(span):
        return found
    quiet = float(np.mean(span <= bg.level_ceiling_dbfs))
    if quiet <= p.weak_start_quiet_share:
        return found
    return Edge(
        found.sample,
        False,
        f"the answer's sound runs back {long_ms:.0f} ms from its first clear speech, most of it "
        "no louder than the background got: where it begins cannot be told from the background",
        found.strength_db,
    )


def _turn_end(
    a: Analysis,
    regions: list[tuple[int, int]],
    caller_end_frame: int | None,
    pause: int,
    p: TimingParams,
) -> tuple[int, int | None, bool]:
    """The agent's turn from its first stretch of sure speech on, across pauses shorter than
    `pause` frames (and, once the caller has stopped, than a closure): (its last sure frame,
    the first of the stretch after it or None, whether a pause of sure speech longer than a
    closure after the caller stopped was bridged only by faint sound)."""
    last, bridged = regions[0][1], False
    closure, bridge = _ms(p.stop_bridge_ms, p), _ms(p.bridge_ms, p)
    for first, end in regions[1:]:
        # The pause is from where the sound of one stretch ends to where the next one's
        # begins, not between their sure speech: weak sounds at either side are speech too.
        # (A stop consonant's closure can come before a word's last release.)
        gap = _ceiling_walk(a, first, last, -1, p) - _ceiling_walk(
            a, last, first, +1, p, p.stop_bridge_ms
        )
        caller_done = caller_end_frame is not None and (
            last < caller_end_frame <= first or last >= caller_end_frame - bridge
        )
        # A pause while the caller still speaks can be the agent carrying on over it; once
        # the caller has stopped, speech after a pause is an answer of its own.
        if gap > pause or (caller_done and gap > closure):
            return last, first, bridged
        # Sure speech silent for longer than a closure as the caller stopped, joined again
        # only by the sound between (its weak edges, or a background over its ceilings: the
        # notes of music): more of the turn, or an answer of its own?
        bridged = bridged or (caller_done and first - last > closure)
        last = end
    return last, None, bridged


def _slow_decay(track: np.ndarray | Track, start: int, stop: int, p: TimingParams) -> float | None:
    """How long (ms) the sound from `start` to `stop` died away as a room's echo does, if it
    did: for longer than room_decay_ms and by room_decay_fall_db in all, never rising
    room_decay_rise_db over the quietest it had got nor falling room_decay_step_db from one
    20 ms average to the next 5 ms on, to `stop` and for 20 ms after it (a voice that fades
    slowly still ends as its mouth closes: at once). None if it did not."""
    if stop - start <= p.room_decay_ms * SAMPLE_RATE // 1000:
        return None
    x = np.asarray(track[start : stop + SAMPLE_RATE // 50], dtype=np.float64)
    n, step = SAMPLE_RATE // 50, SAMPLE_RATE // 200
    if len(x) < n:
        return None
    power = np.convolve(x * x, np.ones(n) / n, mode="valid")[::step]
    level = 10 * np.log10(np.maximum(power, 1e-6))
    if level[0] - level[-1] < p.room_decay_fall_db:
        return None
    if float((level - np.minimum.accumulate(level)).max()) > p.room_decay_rise_db:
        return None
    if float(-np.diff(level).min(initial=0.0)) > p.room_decay_step_db:
        return None
    return (stop - start) * 1000 / SAMPLE_RATE


def _quiet_stop(
    track: np.ndarray | Track,
    a: Analysis,
    bg: Background,
    last: int,
    limit: int,
    pause_s: float,
    caller_end: int | None,
    p: TimingParams,
    line_peak: float | None,
) -> tuple[int, bool]:
    """On a quiet background, the stop after sure frame `last` (on single samples, across
    closures and words too short to be sure of), and whether sounds too short to be speech
    kept coming after it (before the agent speaks again): clicks or knocks, of which the
    sound followed into may have been more."""
    until = a.sample_of(limit, p)
    sample = _quiet_edge(track, bg, a.sample_of(last, p) + p.frame // 2, until, +1, p, line_peak)
    # Speech too short to be sure of, after a pause shorter than a turn's, is more of the
    # turn, as long as the caller still speaks (once the caller has stopped, speech after
    # a pause is an answer of its own). Each step moves the stop on, up to `until`.
    near = _ms(p.bridge_ms, p) * p.hop
    while True:
        cap = min(until, sample + int(pause_s * SAMPLE_RATE))
        if caller_end is not None:
            cap = min(cap, caller_end) if sample < caller_end - near else sample
        more = _resumed(a, bg, sample, cap, p)
        after = (
            0
            if more is None
            else _quiet_edge(track, bg, a.sample_of(more, p), until, +1, p, line_peak)
        )
        if after <= sample:
            break
        sample = after
    # Up to a turn's pause on, whether the caller still speaks or not, but short of where the
    # agent's next speech may begin weakly.
    end = min(
        sample + int(pause_s * SAMPLE_RATE), until - int(p.weak_start_ms * SAMPLE_RATE / 1000)
    )
    return sample, _clicks(track, bg, a.sample_of(last, p) + p.frame, sample, end, p)


def _clicks(
    track: np.ndarray | Track,
    bg: Background,
    sure_end: int,
    stop: int,
    until: int,
    p: TimingParams,
) -> bool:
    """Was the stop at sample `stop`, followed on from the agent's last sure speech (ending at
    `sure_end`), carried across a closure to a sound shorter than resume_ms, or did such
    sounds come more than a closure's length after it, before sample `until`? (Sounds within
    stop_range_db of the speech just before, over the background: a release cut short, or a
    click, a knock, a key struck.)"""
    ms = SAMPLE_RATE // 1000
    closure, join = p.stop_bridge_ms * ms, p.bridge_ms * ms
    lo = max(0, sure_end - p.answer_reference_ms * ms)
    hi = max(stop + 1, until)
    env = envelope(_highpassed(track, bg, lo, hi, 0, p))
    peak = float(env[: max(1, sure_end - lo)].max()) if len(env) else 0.0
    above = env >= _floor(peak, p.stop_range_db, bg, p)
    # (a millisecond of it at least: a filter's ringing after the cut peeps over for less)
    if until > stop + closure and int(above[stop - lo + closure :].sum()) >= ms:
        return True
    # Between the last sure speech and the stop: a sound after the first (the speech's own
    # tail), parts within bridge_ms joined, shorter than resume_ms?
    between = above[sure_end - lo : stop - lo + 1]
    if not between.any():
        return False
    first = int(np.argmax(between))
    return bool((_lasting(between, first, p.resume_ms * ms, join) != between).any())


def find_stop(
    track: np.ndarray | Track,
    bg: Background,
    barge_in: int,
    hi: int,
    pause_s: float = 0.5,
    caller_end: int | None = None,
    p: TimingParams = PARAMS,
    line_peak: float | None = None,
    who: str = "agent",
) -> Edge:
    """The last sample of the agent's turn under way at `barge_in`: its stretches of speech
    from there, across pauses shorter than `pause_s`, but not across the caller's end of
    speech (`caller_end`): speech that begins again only after the caller stopped is an
    answer, a turn of its own. `line_peak`: the end of a whole line found on its own track,
    placed on a quiet background by the rule its authored end follows (_quiet_edge); `who`
    names the speaker in the reasons."""
    a = analyse(
        track, bg, max(0, barge_in - int(p.answer_reference_ms * SAMPLE_RATE / 1000)), hi, p
    )
    at = a.frame_of(barge_in, p)
    pause = _ms(pause_s * 1000, p)
    # What passes for sure speech but barely stands over the loudest the background got (a
    # chord of music after the agent stopped) is the background's, at a stop as at an onset.
    kept = _agent_regions(a, bg, 0, p)
    regions = [r for r in kept if r[1] >= at - _ms(50, p)]
    if not regions or regions[0][0] > at + pause:
        return Edge(None, False, "the agent was not speaking when the caller began")
    caller_end_frame = a.frame_of(caller_end, p) if caller_end is not None else None
    last, following, bridged = _turn_end(a, regions, caller_end_frame, pause, p)
    limit = following if following is not None else len(a.level) - 1
    bursts = _bursts(a, kept, p)
    # A sound passed over as the background's, within a turn's pause after the agent's last
    # clear speech while the caller still speaks, may as well be the agent's last word, cut
    # short and weak: where the agent stopped cannot be told.
    doubt = [
        r
        for r in bursts
        if last < r[0] <= min(limit, last + pause)
        and (caller_end_frame is None or r[0] < caller_end_frame)
    ]
    if _quiet(
        track, bg, max(0, a.sample_of(last, p) - int(p.answer_reference_ms * SAMPLE_RATE / 1000)), p
    ):
        sample, clicks = _quiet_stop(track, a, bg, last, limit, pause_s, caller_end, p, line_peak)
        if clicks:
            return Edge(
                sample,
                False,
                f"short sounds, too short to be speech, kept coming after the {who}'s last "
                "sound (clicks, knocks): the sound it was followed into may be theirs, and "
                "where it stopped cannot be told",
            )
    elif bg.kind == FLUCTUATING:
        edge = _ceiling_walk(a, last, limit, +1, p)
        sample = a.sample_of(edge, p) + p.onset_lag
        n = _ms(p.strength_ms, p)
        tail = float(np.mean(np.maximum(a.over[max(0, edge - n) : edge + 1], -30.0)))
        if tail < p.min_tail_fluctuating_db:
            return Edge(
                sample,
                False,
                f"the background moves like voices or music, and the {who}'s last sound stood only "
                f"{tail:.0f} dB "
                f"above it (needs {p.min_tail_fluctuating_db:.0f}): its end may be hidden in "
                "it",
                tail,
            )
    else:
        starts = [r[0] for r in bursts if last < r[0] <= limit]
        bound = min(starts) - 1 if starts else limit
        edge = _change_point(a, bg, last, bound, +1, p)
        sample = a.sample_of(edge, p) + p.onset_lag
        if starts and edge >= bound:
            return Edge(
                sample,
                False,
                f"the {who}'s last sound runs into a sound of the background's own that stood "
                "out of it (a chord, a knock): where it stops cannot be told",
            )
    decay_ms = _slow_decay(track, a.sample_of(last, p) + p.frame, sample, p)
    if decay_ms is not None:
        return Edge(
            sample,
            False,
            f"the {who}'s sound died away slowly and evenly for {decay_ms:.0f} ms after its last "
            "clear speech, as a room's echo does: where it stopped speaking cannot be told",
        )
    if doubt:
        return Edge(
            sample,
            False,
            f"a sound too faint to be the {who}'s clear speech came within a pause after its "
            "last word: its last word, cut short, or the background's; where it stopped cannot "
            "be told",
        )
    if bridged:
        return Edge(
            sample,
            False,
            "the agent fell silent as the caller stopped and spoke again soon after, with only "
            "faint sound between: whether that was more of its turn or an answer of its own, "
            "and so where it stopped, cannot be told",
        )
    return Edge(sample, True, "")
