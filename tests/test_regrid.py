import pytest
import torch

from bachata_sep.model import InstrumentModel
from bachata_sep.regrid import matching_rows, regrid_into
from bachata_sep.unet import mixer_levels

MIXING = {"base_channels": 8, "depth": 2, "frequency_mixing": True, "time_mixing": True}


def _model(frequency_pool: int, full_resolution_bins: int, **unet) -> InstrumentModel:
    return InstrumentModel(
        frequency_pool=frequency_pool,
        full_resolution_bins=full_resolution_bins,
        unet=MIXING | unet,
    ).eval()


def _trained_mixing(model: InstrumentModel) -> InstrumentModel:
    """Mixing layers that do something (a new one starts at zero, which would hide errors)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for mixer in model.unet.mixers:
            for layer in (mixer.up, mixer.time_up):
                layer.weight.copy_(0.3 * torch.randn(layer.weight.shape, generator=generator))
    return model


def test_rows_of_a_finer_grid_map_to_the_old_rows_at_the_same_frequency():
    old, new = _model(4, 8), _model(4, 16)
    rows = matching_rows(old, new, level=0).tolist()
    assert rows[:8] == list(range(8))  # unpooled in both
    assert rows[8:16] == [8, 8, 8, 8, 9, 9, 9, 9]  # bins 8-15: one old pooled row per 4
    assert rows[16] == 10  # bins 16-19 in both
    assert rows[40] == old.full_resolution_bins + (40 - 16) + 2  # pooled in both
    # A deeper level halves both grids: new row 5 (level-0 rows 10-11, bins 10-11) -> old 4.
    assert matching_rows(old, new, level=1).tolist()[5] == 4


def test_each_mixing_branch_gives_the_old_output_on_the_new_rows():
    torch.manual_seed(0)
    old = _trained_mixing(_model(4, 8))
    new = _model(4, 16)
    regrid_into(old, new)
    for index, level in enumerate(mixer_levels(old.unet.depth)):
        old_mixer, new_mixer = old.unet.mixers[index], new.unet.mixers[index]
        rows = matching_rows(old, new, level)
        channels, frames = 8 * 2**level, new_mixer.time_down.in_features
        features = torch.randn(2, channels, old_mixer.down.in_features, frames)
        with torch.no_grad():
            expected = old_mixer(features)[:, :, rows]
            torch.testing.assert_close(new_mixer(features[:, :, rows]), expected)


def test_everything_but_frequency_mixing_is_carried_over_unchanged():
    old, new = _trained_mixing(_model(4, 8)), _model(4, 16)
    regrid_into(old, new)
    old_weights, new_weights = old.state_dict(), new.state_dict()
    for name, weight in old_weights.items():
        if not name.endswith((".down.weight", ".up.weight")):
            assert torch.equal(new_weights[name], weight), name


def test_the_same_grid_keeps_the_same_masks():
    old, new = _trained_mixing(_model(4, 8)), _model(4, 8)
    regrid_into(old, new)
    spec = old.spec
    mixture = torch.rand(2, spec.n_bins, spec.n_frames, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(new(mixture, mixture), old(mixture, mixture))


@pytest.mark.parametrize("unet", [{"base_channels": 16}, {"residual": True}, {"depth": 3}])
def test_another_architecture_is_refused(unet):
    with pytest.raises(ValueError, match="differ in more than their frequency grid"):
        regrid_into(_model(4, 8), _model(4, 16, **unet))
