import numpy as np
import pytest
import torch

from bachata_sep.audio import write_audio
from bachata_sep.clips import Segment
from bachata_sep.errors import BadInputError, MissingWeightsError
from bachata_sep.folders import REFERENCE_CLIP, reference_clip
from bachata_sep.model import InstrumentModel, ModelSeparator
from bachata_sep.pretrained import load_separator
from bachata_sep.separators import BaselineSeparator, ClipBatch, IdentitySeparator
from bachata_sep.spec import ClipSpec

SPEC = ClipSpec()
TINY = {"base_channels": 8, "depth": 2}


def _model(instrument: str = "bass", seed: int = 0) -> InstrumentModel:
    torch.manual_seed(seed)
    return InstrumentModel(instrument, SPEC.to_dict(), frequency_pool=4, unet=TINY)


def _save(folder, model: InstrumentModel, reference_bars: int = 2) -> None:
    model.save_pretrained(folder / model.instrument)
    clip = np.random.default_rng(0).standard_normal(SPEC.length * reference_bars) * 0.1
    write_audio(folder / model.instrument / REFERENCE_CLIP, clip, SPEC.sample_rate, "PCM_16")


def test_masks_match_the_heatmap_shape():
    model = _model()
    mixture = torch.rand(3, SPEC.n_bins, SPEC.n_frames)
    one_query = model(mixture, torch.rand(2, SPEC.n_bins, SPEC.n_frames))
    per_item = model(mixture, torch.rand(3, 1, SPEC.n_bins, SPEC.n_frames))
    for mask in (one_query, per_item):
        assert mask.shape == mixture.shape
        assert float(mask.detach().min()) >= 0 and float(mask.detach().max()) <= 1


def test_low_bins_keep_full_resolution_and_the_rest_is_pooled():
    model = InstrumentModel("bass", SPEC.to_dict(), 4, TINY, full_resolution_bins=64)
    heatmaps = torch.rand(2, 1, SPEC.n_bins, SPEC.n_frames)
    pooled = model.pool(heatmaps)
    assert pooled.shape[-2] == 64 + -(-(SPEC.n_bins - 64) // 4)
    restored = model.unpool(pooled, heatmaps.shape[-2:])
    assert restored.shape == heatmaps.shape
    torch.testing.assert_close(restored[..., :64, :], heatmaps[..., :64, :])
    assert not torch.allclose(restored[..., 64:, :], heatmaps[..., 64:, :])
    mask = model(heatmaps[:, 0], torch.rand(1, SPEC.n_bins, SPEC.n_frames))
    assert mask.shape == heatmaps[:, 0].shape


def test_heatmaps_with_a_mislaid_axis_are_refused():
    model = _model()
    mixture = torch.rand(2, SPEC.n_bins, SPEC.n_frames)
    with pytest.raises(ValueError, match="bins, frames"):
        model(mixture, torch.rand(2, 1, SPEC.n_frames))  # (B, Q, F, T) indexed one axis too far
    with pytest.raises(ValueError, match="bins, frames"):
        model(mixture[:, :, :64], torch.rand(1, SPEC.n_bins, SPEC.n_frames))


def test_save_load_round_trip_offline_and_strict(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _model().eval()
    model.save_pretrained(tmp_path)
    loaded = InstrumentModel.from_pretrained(tmp_path, strict=True)
    assert loaded.instrument == "bass" and loaded.spec == SPEC
    inputs = torch.rand(2, SPEC.n_bins, SPEC.n_frames), torch.rand(1, SPEC.n_bins, SPEC.n_frames)
    assert torch.equal(model(*inputs), loaded(*inputs))
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))


def test_model_separator_from_folder(tmp_path):
    _save(tmp_path, _model("bass"))
    _save(tmp_path, _model("maracas", seed=1), reference_bars=3)
    (tmp_path / "digits").mkdir()  # a model folder without a reference clip is not audio
    separator = ModelSeparator.from_folder(tmp_path)
    assert separator.instruments == ("bass", "maracas")
    assert separator.references["maracas"].shape == (3, SPEC.n_bins, SPEC.n_frames)
    batch = ClipBatch(*torch.rand(2, 4, SPEC.n_bins, SPEC.n_frames), [Segment(0, 1)] * 4, 44100)
    user_query = torch.rand(2, SPEC.n_bins, SPEC.n_frames)
    masks = separator.masks(batch, {"bass": None, "maracas": user_query})
    assert set(masks) == {"bass", "maracas"}
    assert all(mask.shape == (4, SPEC.n_bins, SPEC.n_frames) for mask in masks.values())
    assert (masks["bass"] + masks["maracas"]).max() <= 1 + 1e-6  # no bin given out twice
    # A stem does not depend on which others were asked for.
    both = separator.masks(batch, {"bass": None, "maracas": None})
    torch.testing.assert_close(separator.masks(batch, {"bass": None})["bass"], both["bass"])
    assert not separator.supports("guira")


def test_masks_that_claim_more_than_the_mixture_are_shared_out(tmp_path):
    for index, name in enumerate(("bass", "maracas")):
        _save(tmp_path, _model(name, seed=index))
    separator = ModelSeparator.from_folder(tmp_path)
    heatmaps = torch.rand(3, SPEC.n_bins, SPEC.n_frames, generator=torch.Generator().manual_seed(0))
    batch = ClipBatch(heatmaps, heatmaps, [Segment(0, 1)] * 3, 44100)
    with torch.inference_mode():
        alone = {
            name: model(heatmaps, separator.references[name])
            for name, model in separator.models.items()
        }
    total = alone["bass"] + alone["maracas"]
    assert (total > 1).any() and (total < 1).any()  # both cases occur with random weights
    masks = separator.masks(batch, {"bass": None, "maracas": None})
    shared = total > 1
    torch.testing.assert_close(
        masks["bass"][shared], (alone["bass"] / total)[shared], atol=1e-4, rtol=0
    )
    torch.testing.assert_close(masks["bass"][~shared], alone["bass"][~shared], atol=1e-4, rtol=0)


def test_the_guira_mask_never_falls_below_the_dsp_baselines(tmp_path):
    _save(tmp_path, _model("guira"))
    floored = ModelSeparator.from_folder(tmp_path)
    plain = ModelSeparator(floored.models, floored.references, baseline_floor=())
    assert floored.baseline_floor == ("guira",) and plain.baseline_floor == ()
    magnitudes = torch.rand(
        2, SPEC.n_bins, SPEC.n_frames, generator=torch.Generator().manual_seed(1)
    )
    batch = ClipBatch(magnitudes, magnitudes, [Segment(0, 1)] * 2, 44100)
    model = plain.masks(batch, {"guira": None})["guira"]
    baseline = BaselineSeparator(SPEC).masks(batch, {"guira": None})["guira"]
    masks = floored.masks(batch, {"guira": None})["guira"]
    torch.testing.assert_close(masks, torch.maximum(model, baseline))
    assert (baseline > model).any() and (model > baseline).any()  # both sides are taken


def test_model_separator_refuses_an_empty_folder(tmp_path):
    with pytest.raises(BadInputError, match="no instrument models"):
        ModelSeparator.from_folder(tmp_path)


def test_load_separator_prefers_checkpoints_and_survives_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match="no trained weights found"):
        load_separator(checkpoints=tmp_path)
    empty = load_separator(checkpoints=tmp_path, identity_fallback=True)
    assert isinstance(empty.separator, IdentitySeparator) and "identity" in empty.source
    _save(tmp_path, _model("bass"))
    with pytest.warns(UserWarning, match="Hub"):
        loaded = load_separator("someone/bachata-sep", checkpoints=tmp_path)
    assert isinstance(loaded.separator, ModelSeparator)
    assert str(tmp_path) in loaded.source


def test_model_separator_masks_equal_the_models_own(tmp_path):
    """The separator's inference layout (channels-last) must not change the masks."""
    model = _model("bass").eval()
    _save(tmp_path, model)
    separator = ModelSeparator.from_folder(tmp_path)
    head = separator.models["bass"].unet.head.weight
    assert head.is_contiguous(memory_format=torch.channels_last)
    heatmaps = torch.rand(3, SPEC.n_bins, SPEC.n_frames)
    batch = ClipBatch(heatmaps, heatmaps, [Segment(0, 1)] * 3, 44100)
    with torch.inference_mode():
        expected = model(heatmaps, separator.references["bass"])
    # Another convolution algorithm rounds differently: equal to float32 accuracy.
    masks = separator.masks(batch, {"bass": None})["bass"]
    torch.testing.assert_close(masks, expected, atol=1e-4, rtol=0)


def _save_shared(folder, instruments: tuple[str, ...], name: str = "shared") -> InstrumentModel:
    """A shared model whose FiLM layers are not the identity, so the query steers it."""
    model = _model(",".join(instruments))
    with torch.no_grad():
        for film in (m for m in model.modules() if m.__class__.__name__ == "FiLM"):
            film.project.weight.normal_(0, 0.5)
    model.save_pretrained(folder / name)
    for index, instrument in enumerate(instruments):
        rng = np.random.default_rng(index)
        clip = rng.standard_normal(SPEC.length) * 0.1 * (index + 1)
        clip = np.convolve(clip, np.ones(8 * index + 1) / (8 * index + 1), mode="same")
        path = folder / name / reference_clip(instrument, shared=True)
        write_audio(path, clip, SPEC.sample_rate, "PCM_16")
    return model


def test_a_shared_model_serves_each_instrument_with_its_own_query(tmp_path):
    _save_shared(tmp_path, ("bass", "guitar"))
    separator = ModelSeparator.from_folder(tmp_path)
    assert separator.instruments == ("bass", "guitar")
    assert separator.models["bass"] is separator.models["guitar"]
    assert separator.folders == {"bass": tmp_path / "shared", "guitar": tmp_path / "shared"}
    heatmaps = torch.rand(2, SPEC.n_bins, SPEC.n_frames, generator=torch.Generator().manual_seed(0))
    batch = ClipBatch(heatmaps, heatmaps, [Segment(0, 1)] * 2, 44100)
    masks = separator.masks(batch, {"bass": None, "guitar": None})
    assert (masks["bass"] - masks["guitar"]).abs().max() > 0.01  # the query tells them apart
    swapped = separator.masks(batch, {"bass": separator.references["guitar"], "guitar": None})
    torch.testing.assert_close(swapped["bass"], swapped["guitar"])


def test_two_models_for_one_instrument_or_a_missing_reference_are_refused(tmp_path):
    _save_shared(tmp_path, ("bass", "guitar"))
    _save(tmp_path, _model("bass"))
    with pytest.raises(BadInputError, match="both separate 'bass'"):
        ModelSeparator.from_folder(tmp_path)
    (tmp_path / "bass" / REFERENCE_CLIP).unlink()
    (tmp_path / "shared" / reference_clip("guitar", shared=True)).unlink()
    with pytest.raises(BadInputError, match="reference-guitar.flac is missing"):
        ModelSeparator.from_folder(tmp_path)


def test_saved_configs_naming_the_removed_unet_options_still_load_unless_they_need_them():
    """Every committed config names ``"residual": false`` and ``"conditioning": "film"``;
    a model that needs residual blocks or concatenation cannot be built."""
    plain = {"base_channels": 4, "depth": 2, "residual": False, "conditioning": "film"}
    InstrumentModel(unet=plain, frequency_pool=8)
    for removed in ({"residual": True}, {"conditioning": "concat"}):
        with pytest.raises(BadInputError, match="retrain it"):
            InstrumentModel(unet={**plain, **removed}, frequency_pool=8)
