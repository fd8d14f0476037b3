"""Model cards: each instrument folder keeps its facts in ``metrics.json`` (training data,
command, validation and evaluation figures) and its ``README.md`` card is rendered from
them, so the card never disagrees with what was measured."""

from __future__ import annotations

import json
from pathlib import Path

from ..folders import instrument_names, reference_clip
from ..model import BASELINE_FLOOR

METRICS_FILE = "metrics.json"
SOURCES_EVALUATION = "sources_evaluation"  # the metrics of ``evaluate --by-source``
# The settings of ``bachata-sep evaluate`` (see ``evaluate``), in the order reports show them.
SETTINGS = {
    "aligned_clips": "aligned clips",
    "full_song_bars": "full song, per bar",
    "full_song": "full song",
}


def update_metrics(folder: Path, **sections: dict) -> dict:
    """Merge ``sections`` into the folder's metrics and re-render its card."""
    path = folder / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics.update(sections)
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    (folder / "README.md").write_text(render_card(metrics))
    return metrics


def render_card(metrics: dict) -> str:
    """The model card; a shared model (several instruments) lists the evaluation per
    instrument."""
    training = metrics.get("training", {})
    instrument = training.get("instrument", "?")
    instruments = instrument_names(instrument)
    shared = len(instruments) > 1
    references = (
        ", ".join(f"`{reference_clip(name, shared)}`" for name in instruments)
        + " are the default queries, one per instrument (four training bars each"
        if shared
        else "`reference.flac` is the default query (four training bars"
    )
    lines = [
        "---",
        "library_name: bachata-sep",
        "tags: [audio, source-separation, query-by-example, bachata]",
        "license: mit",
        "---",
        f"# bachata-sep: {' + '.join(instruments) if shared else instrument}",
        "",
        (
            "One query-conditioned U-Net for several instruments: the query clip alone says "
            "which one to mask"
            if shared
            else f"Query-conditioned U-Net that masks the **{instrument}**"
        )
        + " in 4-beat clips of bachata songs (heatmaps at 130 BPM, 22.05 kHz). Load it with "
        "`bachata_sep.model.ModelSeparator.from_folder(<checkpoints>)`; "
        f"{references} at the universal tempo).",
        "",
        "## Training",
        "",
        f"- data: {training.get('data', '?')}",
        f"- timbre families heard in training: {', '.join(training.get('sources', ['?']))} "
        "(every other family is held out for this model)",
        f"- command: `{training.get('command', '?')}`",
        *([f"- started from: {training['init']}"] if "init" in training else []),
        f"- model: {training.get('parameters', '?')} parameters, "
        f"{training.get('size_mb', '?')} MB; {training.get('model', '')}",
        f"- wall time: {training.get('wall_s', '?')} s on {training.get('machine', '?')}",
        f"- validation SI-SDRi of these weights: {training.get('val_si_sdri_db', '?')} dB "
        f"(step {training.get('step', '?')}, validation timbres never seen in training)",
    ]
    # A folder may serve one instrument of a shared model (the Hub layout stays one folder
    # per instrument): the card says whose weights these are and why they were chosen.
    lines += [f"- {key}: {training[key]}" for key in ("weights", "why") if key in training]
    floored = [name for name in instruments if name in BASELINE_FLOOR]
    if floored:
        lines.append(
            f"- in the pipeline: the {' and '.join(floored)} mask never falls below the DSP "
            "baseline's (`bachata_sep.model.BASELINE_FLOOR`, chosen on real recordings: "
            "docs/held-out-sources.md); the figures below include it"
        )
    headings = {
        SOURCES_EVALUATION: "## Evaluation per timbre family (sources training never heard first)",
        "evaluation": "## Evaluation on held-out songs of the training families (in-distribution: "
        "unseen seeds and presets; MuseScore General is derived from FluidR3)",
    }
    for key, heading in headings.items():
        evaluation = metrics.get(key)
        if not evaluation:
            continue
        lines += ["", heading]
        sections = (
            {name: evaluation.get(name) or {} for name in instruments}
            if shared
            else {instrument: evaluation}
        )
        for name, section in sections.items():
            if shared:
                lines += ["", f"### {name}"]
            write = _sources_lines if key == SOURCES_EVALUATION else _evaluation_lines
            lines += write(section)
    return "\n".join(lines) + "\n"


def _sources_lines(evaluation: dict) -> list[str]:
    lines = [
        "",
        f"Command: `{evaluation.get('command', '?')}`. Full songs; SI-SDRi in dB (mean over "
        "songs), the model's SDR (dB) and its median stem level error over bars (dB).",
        "",
        "| family | held out | baseline SI-SDRi | model SI-SDRi | oracle SI-SDRi | model SDR "
        "| model level |",
        "|---|---|---|---|---|---|---|",
    ]
    families = evaluation.get("families", {})
    for family in sorted(families, key=lambda name: not families[name]["held_out"]):
        summary = families[family]
        gain = summary["si_sdri"]
        lines.append(
            f"| {family} | {'yes' if summary['held_out'] else 'no'} | {gain['baseline']:.2f} | "
            f"{gain['model']:.2f} | {gain['oracle']:.2f} | {summary['sdr']['model']:.2f} | "
            f"{summary['level_error_db']['model']:+.1f} |"
        )
    return lines


def _evaluation_lines(evaluation: dict) -> list[str]:
    lines = [
        "",
        f"Command: `{evaluation.get('command', '?')}`. SI-SDR in dB; SI-SDRi over the mixture.",
        "",
        "| setting | mixture SI-SDR | baseline SI-SDRi | model SI-SDRi | oracle SI-SDRi |",
        "|---|---|---|---|---|",
    ]
    for setting, label in SETTINGS.items():
        summary = evaluation.get(setting)
        if summary:
            gain = summary["si_sdri"]
            lines.append(
                f"| {label} | {summary['si_sdr']['mixture']:.2f} | "
                f"{gain['baseline']:.2f} | {gain['model']:.2f} | {gain['oracle']:.2f} |"
            )
    full_song = evaluation.get("full_song") or {}
    if "sdr" in full_song:
        level = full_song["sdr"]
        lines += [
            "",
            f"Full-song SDR (the level included): mixture {level['mixture']:.2f}, baseline "
            f"{level['baseline']:.2f}, model {level['model']:.2f}, oracle "
            f"{level['oracle']:.2f} dB.",
        ]
    if "min_si_sdri_db" in evaluation:
        lines += [
            "",
            f"Test floor (aligned clips): `min_si_sdri_db: {evaluation['min_si_sdri_db']}`",
        ]
    return lines
