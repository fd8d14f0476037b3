"""Beat tracking and downbeat estimation, behind a small tracker interface.

The song's tempo comes from one autocorrelation of its onsets; the half-beats then follow
the local tempo along a dynamic-programming path, so a band that drifts, plays its intro
slower or slows at the end keeps its beats, while the path's pull towards the song's
tempo carries it through a sparse intro or a break. Which half-beat starts the bar is
decided once for the whole song, by matching its bar-periodic accents (bass, bongo slap
and güira on 4, chord changes on 1) to a template along those half-beats. Songs without a
measurable pulse (silence, ambience, speech) fall back to a fixed grid, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from . import analysis
from .spec import BEATS_PER_BAR

ANALYSIS_RATE = 22050
HOP_LENGTH = 256
FRAME_RATE = ANALYSIS_RATE / HOP_LENGTH
N_FFT = 2048
N_MELS = 64
HALF_BEATS_PER_BAR = 2 * BEATS_PER_BAR
FALLBACK_BPM = 130.0
# Peak of the onset envelope's normalised autocorrelation over 60-200 BPM below which
# we call the input pulseless (music measures > 0.3, noise and speech < 0.15).
MIN_PULSE_CLARITY = 0.2
MIN_BEATS = 2 * BEATS_PER_BAR
MIN_BPM, MAX_BPM = 60.0, 200.0
# Spread of the log-normal tempo prior: bachata lives at 110-160 BPM, and its bars repeat so
# strongly that a wider prior locks onto half tempo.
TEMPO_PRIOR_OCTAVES = 0.5
# Silence put before the signal so that an onset at time zero has a "before" to rise from.
LEAD_IN_SECONDS = 0.5
# The local half-beat path (``local_half_beats``): how many times longer or shorter than
# the song's half-beat one may be (a ritardando ending slows to 70 %), the costs of
# straying from the song's tempo and of changing tempo from one half-beat to the next
# (per squared log-ratio, against onsets scaled to unit standard deviation), and how many
# beats either side smooth each position.
LOCAL_PERIOD_RATIO = 1.5
LOCAL_TIGHTNESS = 20.0
TEMPO_CHANGE_COST = 100.0
SMOOTHING_BEATS = 2
# Frames either side of a grid point searched for its onset peak (±23 ms).
PEAK_RADIUS = 2
# The song spans the first to the last sounding half-beat: one whose onset reaches this
# fraction of the song's strong ones (90th percentile), which a final chord's ring does
# not, and whose rise in power is within this many dB of theirs, which a quiet hum
# before the music is not.
SOUNDING_ONSET_FRACTION = 0.3
SOUNDING_RISE_DB = -25.0
STRONG_ONSET_PERCENTILE = 90
# Mel-band edges (Hz) of the per-half-beat onset features: bass, guitar body, presence
# (slaps, requinto) and the bright band of the güira.
BAND_EDGES_HZ = (0.0, 200.0, 1000.0, 4000.0, ANALYSIS_RATE / 2)
# Chroma ignores the bass, whose line anticipates the next chord half a beat before the bar.
CHROMA_MIN_HZ = 200.0


class BeatTrackingWarning(UserWarning):
    """No pulse was found, so a fixed grid is used instead of the song's beats."""


@dataclass(frozen=True)
class BeatGrid:
    """Beat and downbeat times in seconds; ``fallback`` marks a fixed grid."""

    beats: np.ndarray
    downbeats: np.ndarray
    fallback: bool = False

    @property
    def beat_period(self) -> float:
        """The typical beat length in seconds (the median, so a slow ending does not count)."""
        return float(np.median(np.diff(self.beats))) if len(self.beats) > 1 else 60 / FALLBACK_BPM

    @property
    def local_bpm(self) -> np.ndarray:
        """The tempo at each beat, from the beats either side of it (one side at the ends)."""
        if len(self.beats) < 2:
            return np.full(len(self.beats), 60 / self.beat_period)
        return 60 / np.gradient(self.beats)


class BeatTracker(Protocol):
    def __call__(self, mono: np.ndarray, sample_rate: int) -> BeatGrid: ...


def fixed_grid(duration: float, bpm: float = FALLBACK_BPM) -> BeatGrid:
    """Beats at a constant tempo from time zero, a downbeat every four beats."""
    beats = np.arange(0.0, duration, 60.0 / bpm)
    return BeatGrid(beats=beats, downbeats=beats[::BEATS_PER_BAR], fallback=True)


def tempo_and_clarity(
    onset_envelope: np.ndarray, frame_rate: float, start_bpm: float = FALLBACK_BPM
) -> tuple[float, float]:
    """Tempo (BPM) and pulse clarity from one autocorrelation of the onset envelope.

    Clarity is the highest normalised autocorrelation at 60-200 BPM; the tempo is the
    lag that maximises it under a log-normal prior around ``start_bpm``.
    This replaces librosa's tempogram, which needs gigabytes on a 10-minute song.
    """
    envelope = onset_envelope - onset_envelope.mean()
    longest = int(frame_rate * 60 / MIN_BPM)
    if len(envelope) <= longest or not envelope.any():
        return start_bpm, 0.0
    correlation = analysis.autocorrelate(envelope, max_size=longest + 2)
    correlation = correlation / correlation[0]
    lags = np.arange(int(frame_rate * 60 / MAX_BPM), longest + 1)
    bpm = 60 * frame_rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / start_bpm) / TEMPO_PRIOR_OCTAVES) ** 2)
    best = lags[np.argmax(correlation[lags] * prior)]
    left, centre, right = correlation[best - 1 : best + 2]
    offset = 0.5 * (left - right) / (left - 2 * centre + right + 1e-12)
    return float(60 * frame_rate / (best + np.clip(offset, -0.5, 0.5))), float(
        correlation[lags].max()
    )


class LocalTempoTracker:
    """Beats that follow the song's local tempo, and their bar position."""

    def __init__(self, start_bpm: float = FALLBACK_BPM) -> None:
        self.start_bpm = start_bpm

    def __call__(self, mono: np.ndarray, sample_rate: int) -> BeatGrid:
        try:
            half_beats, evidence = self.half_beats(mono, sample_rate)
        except PulselessError as error:
            return _fallback(len(mono) / sample_rate, str(error))
        downbeat = bar_position(evidence)
        beats = half_beats[downbeat % 2 :: 2]
        first_downbeat = (downbeat % HALF_BEATS_PER_BAR) // 2
        return BeatGrid(beats=beats, downbeats=beats[first_downbeat::BEATS_PER_BAR])

    def half_beats(self, mono: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """The sounding half-beats of the grid (seconds) and the bar evidence at each
        (see ``half_beat_features``); raises ``PulselessError`` for music without a beat."""
        features = spectral_features(analysis_signal(mono, sample_rate))
        onset_envelope = analysis.onset_strength(features.mel_db)
        tempo, clarity = tempo_and_clarity(onset_envelope, FRAME_RATE, self.start_bpm)
        if clarity < MIN_PULSE_CLARITY:
            raise PulselessError("no steady pulse found")
        rise = power_rise(features.mel_db)
        half_beats = pulse_half_beats(onset_envelope, rise.sum(axis=0), tempo)
        if len(half_beats) < 2 * MIN_BEATS:
            raise PulselessError(f"only {len(half_beats) // 2} beats found")
        evidence = half_beat_features(rise, features.chroma, onset_envelope, half_beats)
        return _frames_to_seconds(half_beats), evidence


class PulselessError(Exception):
    """The input has no beat to track; the message says why."""


def analysis_signal(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """The signal at the analysis rate, after a lead-in of silence."""
    signal = analysis.resample(mono.astype(np.float32, copy=False), sample_rate, ANALYSIS_RATE)
    return np.pad(signal, (int(LEAD_IN_SECONDS * ANALYSIS_RATE), 0))


@dataclass(frozen=True)
class SpectralFeatures:
    """Frame-wise features of the analysis signal, all at ``HOP_LENGTH``."""

    mel_db: np.ndarray
    chroma: np.ndarray


def spectral_features(signal: np.ndarray, chunk_frames: int = 4096) -> SpectralFeatures:
    """Log-mel and chroma from one STFT pass taken in chunks, so a long
    song never holds its whole spectrogram in memory."""
    padded = np.pad(signal, N_FFT // 2)
    n_frames = 1 + len(signal) // HOP_LENGTH
    mel_basis = analysis.mel_filters(ANALYSIS_RATE, N_FFT, N_MELS)
    chroma_basis = analysis.chroma_filters(ANALYSIS_RATE, N_FFT)
    chroma_basis[:, analysis.fft_frequencies(ANALYSIS_RATE, N_FFT) < CHROMA_MIN_HZ] = 0
    mel, chroma = [], []
    for first in range(0, n_frames, chunk_frames):
        last = min(first + chunk_frames, n_frames)
        chunk = padded[first * HOP_LENGTH : (last - 1) * HOP_LENGTH + N_FFT]
        power = analysis.power_spectrogram(chunk, N_FFT, HOP_LENGTH)
        mel.append(mel_basis @ power)
        chroma.append(analysis.normalize_columns(chroma_basis @ power))
    return SpectralFeatures(
        mel_db=analysis.power_to_db(np.concatenate(mel, axis=1)),
        chroma=np.concatenate(chroma, axis=1),
    )


# --- the beat grid ---------------------------------------------------------------------


def pulse_half_beats(onset_envelope: np.ndarray, rise: np.ndarray, tempo: float) -> np.ndarray:
    """The sounding half-beats (frames) of the pulse that the onsets follow best.

    The autocorrelation may mistake the dotted quarter of the 3-3-2 feel for the beat,
    so the tempo 3/2 and 2/3 as fast compete too, each as a path of local half-beats
    (``local_half_beats``). The true beat lands on the most onset strength: a path is
    scored by the onsets at its beats above what a frame picked at random gets (the
    stronger of its two sets of alternate half-beats, as the beat is not known yet; so
    a faster path's extra beats between the onsets add nothing), less what its beat to
    beat intervals stray from its tempo (half-beat ones alternate long and short in a
    swung song).
    """
    gain = onset_envelope / (onset_envelope.std() + 1e-12)
    chance = _strength_at(gain, np.arange(len(gain))).mean()
    candidates = []
    for bpm in (tempo, tempo * 3 / 2, tempo * 2 / 3):
        if MIN_BPM <= bpm <= MAX_BPM:
            half_period = FRAME_RATE * 30 / bpm
            path = sounding(local_half_beats(onset_envelope, half_period), onset_envelope, rise)
            straying = LOCAL_TIGHTNESS * np.log((path[2:] - path[:-2]) / (2 * half_period)) ** 2
            strength = _strength_at(gain, path) - chance
            beats = max(strength[0::2].sum(), strength[1::2].sum())
            candidates.append((beats - straying.sum(), path))
    return max(candidates, key=lambda candidate: candidate[0])[1]


def local_half_beats(onset_envelope: np.ndarray, half_period: float) -> np.ndarray:
    """Half-beats (in frames, through the whole signal) that follow the local tempo.

    Dynamic programming over frames and intervals (Ellis 2007, as in librosa.beat, with
    the interval in the state as in madmom's tempo-state models): each half-beat gains
    the onset strength at its frame, pays ``TEMPO_CHANGE_COST`` times the squared
    log-ratio of its interval to the previous one and ``LOCAL_TIGHTNESS`` times that of
    its interval to the song's half period. So the path follows a tempo that drifts,
    changes between sections or slows at the end, while fills and sixteenths cannot
    pull it off the pulse. Frames are processed a shortest interval at a time: none of
    them can depend on another. The path's frames are then smoothed (``smooth_path``).
    """
    n_frames = len(onset_envelope)
    shortest = max(1, int(half_period / LOCAL_PERIOD_RATIO))
    intervals = np.arange(shortest, int(np.ceil(half_period * LOCAL_PERIOD_RATIO)) + 1)
    pull = LOCAL_TIGHTNESS * np.log(intervals / half_period) ** 2
    change = TEMPO_CHANGE_COST * np.log(intervals[:, None] / intervals[None, :]) ** 2
    gain = onset_envelope / (onset_envelope.std() + 1e-12)
    # score[t, j]: the best path whose last half-beat is at frame t, reached by interval j;
    # previous[t, j]: the interval before it (-1: the path starts at t).
    score = np.repeat(gain[:, None], len(intervals), axis=1)
    previous = np.full(score.shape, -1, dtype=np.int16)
    for first in range(shortest, n_frames, shortest):
        frames = np.arange(first, min(first + shortest, n_frames))
        before = frames[:, None] - intervals
        candidates = score[before.clip(0)] - change  # (frames, interval, previous interval)
        best = np.argmax(candidates, axis=2)
        extended = np.take_along_axis(candidates, best[..., None], axis=2)[..., 0] - pull
        started = before < 0
        score[frames] += np.where(started, 0.0, extended)
        previous[frames] = np.where(started, -1, best)
    tail = n_frames - min(n_frames, intervals[-1])
    frame, interval = np.unravel_index(np.argmax(score[tail:]), score[tail:].shape)
    path = [int(frame) + tail]
    while previous[path[-1], interval] >= 0:
        frame, interval = path[-1] - intervals[interval], previous[path[-1], interval]
        path.append(int(frame))
    return smooth_path(_peak_frames(gain, np.array(path[::-1]), PEAK_RADIUS), gain)


def smooth_path(frames: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Each half-beat moved onto the line fitted through the onset peaks of its neighbours
    (``SMOOTHING_BEATS`` either side, weighted by strength), as the constant grid was fitted
    to the whole song: sub-frame positions without one player's push or drag. Beats and
    off-beats each get their own lines, since the off-beat's softer notes peak later."""
    smooth = frames.astype(np.float64)
    for parity in (0, 1):
        smooth[parity::2] = _local_line(frames[parity::2], np.sqrt(gain[frames[parity::2]]))
    return smooth


def _local_line(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each value replaced by the weighted least-squares line through its window."""
    if len(values) <= 2 * SMOOTHING_BEATS:
        return values.astype(np.float64)
    weights = weights + 1e-3  # silent stretches still have a line
    index = np.arange(len(values), dtype=np.float64)
    window = np.ones(2 * SMOOTHING_BEATS + 1)

    def local_sum(terms: np.ndarray) -> np.ndarray:
        return np.convolve(terms, window, mode="same")

    w, wx, wy = local_sum(weights), local_sum(weights * index), local_sum(weights * values)
    wxx, wxy = local_sum(weights * index**2), local_sum(weights * index * values)
    slope = (w * wxy - wx * wy) / (w * wxx - wx**2)
    return (wy + slope * (w * index - wx)) / w


def sounding(points: np.ndarray, onset_envelope: np.ndarray, rise: np.ndarray) -> np.ndarray:
    """The grid points from the first to the last that carries a note of the song, so
    the grid does not run on into the silence, hum or ringing around it."""
    onsets = _strength_at(onset_envelope, points)
    rises = _strength_at(rise, points)
    played = (
        onsets >= SOUNDING_ONSET_FRACTION * np.percentile(onsets, STRONG_ONSET_PERCENTILE)
    ) & (rises >= np.percentile(rises, STRONG_ONSET_PERCENTILE) * 10 ** (SOUNDING_RISE_DB / 10))
    first, last = np.flatnonzero(played)[[0, -1]] if played.any() else (0, -1)
    return points[first : last + 1]


def _strength_at(curve: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The peak of a frame curve within ``PEAK_RADIUS`` frames of each point."""
    return curve[_peak_frames(curve, points, PEAK_RADIUS)]


def _peak_frames(envelope: np.ndarray, points: np.ndarray, radius: int) -> np.ndarray:
    """The frame of the envelope's maximum within ±radius frames of each point (the point
    itself where they tie, as in silence)."""
    offsets = np.arange(-radius, radius + 1)
    offsets = offsets[np.argsort(np.abs(offsets), kind="stable")]
    windows = np.clip(np.round(points).astype(int)[:, None] + offsets, 0, len(envelope) - 1)
    return windows[np.arange(len(points)), np.argmax(envelope[windows], axis=1)]


def power_rise(mel_db: np.ndarray) -> np.ndarray:
    """Frame-to-frame rise of each mel band's power: how loud each new note is."""
    power = analysis.db_to_power(mel_db)
    return np.maximum(0.0, np.diff(power, axis=1, prepend=power[:, :1]))


def _frames_to_seconds(frames: np.ndarray) -> np.ndarray:
    return (frames / FRAME_RATE - LEAD_IN_SECONDS).clip(0.0, None)


# --- the bar position ------------------------------------------------------------------


def half_beat_features(
    rise: np.ndarray, chroma: np.ndarray, onset_envelope: np.ndarray, half_beats: np.ndarray
) -> np.ndarray:
    """Evidence of where the bar starts, one column per half-beat: the power rise in each
    band of ``BAND_EDGES_HZ``, the onset envelope and the chord change.

    Rises are taken on power, not decibels, so that they grow with how hard a note is
    played: accents, not merely onsets, mark the beat and the bar. Their cube root (as
    loudness grows) keeps a few very loud hits from outweighing the rest.
    """
    mel_frequencies = analysis.mel_frequencies(N_MELS, fmax=ANALYSIS_RATE / 2)
    rows = []
    for low, high in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:], strict=True):
        band = rise[(mel_frequencies >= low) & (mel_frequencies < high)].sum(axis=0)
        rows.append(np.cbrt(_strength_at(band, half_beats)))
    rows.append(_strength_at(onset_envelope, half_beats))
    rows.append(chord_change(chroma, half_beats))
    return np.stack(rows)


def chord_change(chroma: np.ndarray, half_beats: np.ndarray) -> np.ndarray:
    """Cosine distance between the chroma of the beat after and the beat before each
    half-beat (zero where either beat is missing)."""
    cumulative = np.concatenate([np.zeros((chroma.shape[0], 1)), np.cumsum(chroma, axis=1)], 1)
    edges = np.clip(np.round(half_beats).astype(int), 0, chroma.shape[1])
    before = cumulative[:, edges[2:-2]] - cumulative[:, edges[:-4]]
    after = cumulative[:, edges[4:]] - cumulative[:, edges[2:-2]]
    cosine = (before * after).sum(axis=0) / (
        np.linalg.norm(before, axis=0) * np.linalg.norm(after, axis=0) + 1e-9
    )
    return np.pad(1.0 - cosine, 2)


def bar_profile(half_beat_evidence: np.ndarray) -> np.ndarray:
    """Each feature averaged over bars at each of the 8 half-beats of the bar (counted
    from the first half-beat), standardised so that features weigh alike."""
    n_bars = half_beat_evidence.shape[1] // HALF_BEATS_PER_BAR
    bars = half_beat_evidence[:, : n_bars * HALF_BEATS_PER_BAR]
    profile = bars.reshape(len(bars), n_bars, HALF_BEATS_PER_BAR).mean(axis=1)
    centred = profile - profile.mean(axis=1, keepdims=True)
    return centred / (centred.std(axis=1, keepdims=True) + 1e-9)


def bar_position(half_beat_evidence: np.ndarray) -> int:
    """Index (0-7) of the first half-beat that is a downbeat: the rotation of the song's
    bar profile that best matches ``BAR_TEMPLATE``."""
    profile = bar_profile(half_beat_evidence)
    scores = [
        float((BAR_TEMPLATE * np.roll(profile, -shift, axis=1)).sum())
        for shift in range(HALF_BEATS_PER_BAR)
    ]
    return int(np.argmax(scores))


# The mean bar profile of 32 training songs, aligned so that column 0 is the downbeat
# (rows as in ``half_beat_features``), from benchmarks/fit_bar_template.py. It reads:
# bass on 3 and on the anticipation at 4&, bongo slap and güira accent on 4, open bongo
# on 4&, and the chord change on 1.
BAR_TEMPLATE = np.array(
    [
        [-0.07, -1.01, -1.23, 0.19, 1.06, -0.76, 0.31, 1.51],
        [0.14, -1.18, -0.45, -0.70, 0.08, -0.79, 1.00, 1.90],
        [0.38, -1.07, -0.11, -0.46, 0.44, -0.92, 1.83, -0.09],
        [0.28, -0.75, -0.17, -0.40, 0.29, -0.82, 1.94, -0.38],
        [0.44, -0.98, -0.20, 0.40, 0.54, -0.94, 1.09, -0.36],
        [1.29, 0.81, -0.26, -0.57, -0.38, -0.74, -0.60, 0.44],
    ]
)


def _fallback(duration: float, reason: str) -> BeatGrid:
    warnings.warn(
        f"{reason}; using a fixed {FALLBACK_BPM:g} BPM grid instead of beats",
        BeatTrackingWarning,
        stacklevel=3,
    )
    return fixed_grid(duration)
