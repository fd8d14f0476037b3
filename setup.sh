#!/usr/bin/env bash
# Set up bachata-sep on a fresh Debian/Ubuntu machine: system packages, a venv, the package.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# FluidSynth + SoundFonts render training/evaluation songs, espeak-ng and Festival sing
# their voices; Chromium drives the browser test.
$SUDO apt-get install -y -qq --no-install-recommends \
    fluidsynth libfluidsynth3 fluid-soundfont-gm timgm6mb-soundfont espeak-ng festival \
    festvox-italp16k festvox-itapc16k festvox-us-slt-hts \
    musescore-general-soundfont-small chromium >/dev/null
[ -d .venv ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/pip install -q --no-deps -e .
