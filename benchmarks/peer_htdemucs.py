"""A peer for bench_pipeline.py: the htdemucs_6s architecture as a whole command (not a test).

Reads a song, separates it into six stems with demucs's own chunked inference (7.8 s
segments, 25 % overlap, one random shift: what ``demucs -n htdemucs_6s`` does) and writes
them as 16-bit WAV, so its time and peak memory compare with ``bachata-sep separate``.
The weights are random: none can be downloaded here, and they do not change the time.

    pip install -r requirements-bench.txt
    python benchmarks/peer_htdemucs.py SONG.wav OUTDIR
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from demucs.apply import apply_model
from demucs.htdemucs import HTDemucs

# The hybrid-transformer settings of demucs's released models (grids/mmi.py: dconv_mode 3,
# 5 transformer layers, 7.8 s segments) without the 512-channel bottom layer of
# htdemucs/htdemucs_ft: 27.4 M parameters.
HTDEMUCS_6S = {
    "sources": ["drums", "bass", "other", "vocals", "guitar", "piano"],
    "audio_channels": 2,
    "samplerate": 44100,
    "segment": Fraction(39, 5),
    "channels": 48,
    "depth": 4,
    "nfft": 4096,
    "dconv_mode": 3,
    "bottom_channels": 0,
    "t_layers": 5,
}


def htdemucs_6s(seed: int = 0) -> HTDemucs:
    """The architecture with random weights, ready for inference."""
    torch.manual_seed(seed)
    return HTDemucs(**HTDEMUCS_6S).eval()


@torch.inference_mode()
def separate(model: HTDemucs, mixture: torch.Tensor) -> torch.Tensor:
    """``(channels, samples)`` → ``(sources, channels, samples)``, normalised as demucs's
    command line does (by the mono mixture's mean and standard deviation)."""
    mono = mixture.mean(dim=0)
    mean, std = mono.mean(), mono.std() + 1e-8
    stems = apply_model(model, ((mixture - mean) / std)[None], shifts=1, overlap=0.25)[0]
    return stems * std + mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("song", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()

    audio, rate = sf.read(args.song, dtype="float32", always_2d=True)
    if rate != HTDEMUCS_6S["samplerate"] or audio.shape[1] != HTDEMUCS_6S["audio_channels"]:
        raise SystemExit("htdemucs_6s takes stereo 44.1 kHz audio")
    model = htdemucs_6s()
    stems = separate(model, torch.from_numpy(audio.T.copy())).numpy()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, stem in zip(model.sources, stems, strict=True):
        sf.write(args.out / f"{name}.wav", np.clip(stem.T, -1.0, 1.0), rate, subtype="PCM_16")


if __name__ == "__main__":
    main()
