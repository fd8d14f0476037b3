"""Beat tracking and downbeat estimation, behind a small tracker interface.

librosa finds the beats; the bar phase (which beat is "1") is chosen among the four
candidates by musical evidence: harmony changes and low-frequency onsets on beat 1,
and the bachata accent (bongo slap, güira) on beat 4. Songs without a measurable
pulse (silence, ambience, speech) fall back to a fixed grid, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import librosa
import numpy as np

ANALYSIS_RATE = 22050
HOP_LENGTH = 256
BEATS_PER_BAR = 4
FALLBACK_BPM = 130.0
# Peak of the onset envelope's normalised autocorrelation over 60-200 BPM below which
# we call the input pulseless (music measures > 0.3, noise and speech < 0.15).
MIN_PULSE_CLARITY = 0.2
MIN_BEATS = 2 * BEATS_PER_BAR
# Silence put before the signal so that an onset at time zero has a "before" to rise from.
LEAD_IN_SECONDS = 0.5
# Frames quieter than this (relative to the loudest) count as silence around the song.
SOUND_THRESHOLD_DB = -50.0


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
        return float(np.median(np.diff(self.beats))) if len(self.beats) > 1 else 60 / FALLBACK_BPM


class BeatTracker(Protocol):
    def __call__(self, mono: np.ndarray, sample_rate: int) -> BeatGrid: ...


def fixed_grid(duration: float, bpm: float = FALLBACK_BPM) -> BeatGrid:
    """Beats at a constant tempo from time zero, a downbeat every four beats."""
    beats = np.arange(0.0, duration, 60.0 / bpm)
    return BeatGrid(beats=beats, downbeats=beats[::BEATS_PER_BAR], fallback=True)


def pulse_clarity(onset_envelope: np.ndarray, frame_rate: float) -> float:
    """Highest normalised autocorrelation of the onset envelope at a tempo of 60-200 BPM."""
    envelope = onset_envelope - onset_envelope.mean()
    energy = float(np.dot(envelope, envelope))
    if energy <= 0:
        return 0.0
    correlation = np.correlate(envelope, envelope, mode="full")[len(envelope) - 1 :] / energy
    shortest, longest = int(frame_rate * 60 / 200), int(frame_rate * 60 / 60)
    return float(correlation[shortest : longest + 1].max()) if len(correlation) > longest else 0.0


class LibrosaTracker:
    """librosa's dynamic-programming beat tracker plus a bar-phase vote for downbeats."""

    def __init__(self, start_bpm: float = FALLBACK_BPM) -> None:
        self.start_bpm = start_bpm

    def __call__(self, mono: np.ndarray, sample_rate: int) -> BeatGrid:
        duration = len(mono) / sample_rate
        signal = librosa.resample(
            mono.astype(np.float32),
            orig_sr=sample_rate,
            target_sr=ANALYSIS_RATE,
            res_type="soxr_hq",
        )
        signal = np.pad(signal, (int(LEAD_IN_SECONDS * ANALYSIS_RATE), 0))
        mel = librosa.power_to_db(
            librosa.feature.melspectrogram(
                y=signal, sr=ANALYSIS_RATE, hop_length=HOP_LENGTH, n_mels=64, fmax=11025
            )
        )
        onset_envelope = librosa.onset.onset_strength(S=mel, sr=ANALYSIS_RATE)
        frame_rate = ANALYSIS_RATE / HOP_LENGTH
        if pulse_clarity(onset_envelope, frame_rate) < MIN_PULSE_CLARITY:
            return _fallback(duration, "no steady pulse found")
        _, beat_frames = librosa.beat.beat_track(
            onset_envelope=onset_envelope,
            sr=ANALYSIS_RATE,
            hop_length=HOP_LENGTH,
            start_bpm=self.start_bpm,
            trim=False,
        )
        beat_frames = _within_sound(beat_frames, signal)
        if len(beat_frames) < MIN_BEATS:
            return _fallback(duration, f"only {len(beat_frames)} beats found")
        phase = bar_phase(signal, mel, beat_frames)
        beats = (
            librosa.frames_to_time(beat_frames, sr=ANALYSIS_RATE, hop_length=HOP_LENGTH)
            - LEAD_IN_SECONDS
        ).clip(0.0, None)
        return BeatGrid(beats=beats, downbeats=beats[phase::BEATS_PER_BAR])


def bar_phase(signal: np.ndarray, mel_db: np.ndarray, beat_frames: np.ndarray) -> int:
    """Index (0-3) of the first beat that is a downbeat, by a vote of per-beat evidence."""
    mel_frequencies = librosa.mel_frequencies(n_mels=mel_db.shape[0], fmax=11025)
    flux = np.maximum(0.0, np.diff(mel_db, axis=1, prepend=mel_db[:, :1]))
    low_onsets = _at_beats(flux[mel_frequencies < 200].mean(axis=0), beat_frames)
    accents = _at_beats(flux[mel_frequencies > 2000].mean(axis=0), beat_frames)
    chroma = librosa.feature.chroma_stft(
        y=signal, sr=ANALYSIS_RATE, hop_length=HOP_LENGTH, tuning=0.0
    )
    harmony_change = _harmony_change(chroma, beat_frames)
    evidence = _zscore(low_onsets) + _zscore(harmony_change) + np.roll(_zscore(accents), 1)
    scores = [evidence[phase::BEATS_PER_BAR].mean() for phase in range(BEATS_PER_BAR)]
    return int(np.argmax(scores))


def _within_sound(beat_frames: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Drop the beats librosa extrapolates into leading and trailing silence."""
    rms = librosa.feature.rms(y=signal, hop_length=HOP_LENGTH)[0]
    audible = np.flatnonzero(rms > rms.max() * 10 ** (SOUND_THRESHOLD_DB / 20))
    tolerance = int(np.median(np.diff(beat_frames)) / 4) if len(beat_frames) > 1 else 0
    keep = (beat_frames >= audible[0] - tolerance) & (beat_frames <= audible[-1] + tolerance)
    return beat_frames[keep]


def _at_beats(curve: np.ndarray, beat_frames: np.ndarray, radius: int = 2) -> np.ndarray:
    """Peak of a frame curve within ±radius frames of each beat."""
    padded = np.pad(curve, radius)
    return np.array([padded[frame : frame + 2 * radius + 1].max() for frame in beat_frames])


def _harmony_change(chroma: np.ndarray, beat_frames: np.ndarray) -> np.ndarray:
    """Chroma distance between the two beats after and the two beats before each beat."""
    per_beat = librosa.util.sync(chroma, beat_frames, aggregate=np.mean, pad=True)[:, 1:]
    per_beat = per_beat / (np.linalg.norm(per_beat, axis=0, keepdims=True) + 1e-9)
    change = np.zeros(len(beat_frames))
    for index in range(2, len(beat_frames) - 2):
        before = per_beat[:, index - 2 : index].mean(axis=1)
        after = per_beat[:, index : index + 2].mean(axis=1)
        change[index] = 1.0 - np.dot(before, after) / (
            np.linalg.norm(before) * np.linalg.norm(after) + 1e-9
        )
    return change


def _zscore(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-9)


def _fallback(duration: float, reason: str) -> BeatGrid:
    warnings.warn(
        f"{reason}; using a fixed {FALLBACK_BPM:g} BPM grid instead of beats",
        BeatTrackingWarning,
        stacklevel=3,
    )
    return fixed_grid(duration)
