import pytest
import torch

from bachata_sep.unet import ConditionedUNet
from bachata_sep.widen import widen_into


def _pair(factor: int, **settings) -> tuple[ConditionedUNet, ConditionedUNet]:
    torch.manual_seed(0)
    narrow = ConditionedUNet(base_channels=4, depth=3, **settings).eval()
    wide = ConditionedUNet(base_channels=4 * factor, depth=3, **settings).eval()
    # Trained FiLM layers are not the identity they start as: give them weights.
    for module in narrow.modules():
        for weight in module.parameters(recurse=False):
            torch.nn.init.normal_(weight, std=0.2)
    return narrow, wide


def _masks(model: ConditionedUNet) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    mixture = torch.rand(3, 1, 40, 24, generator=generator)
    query = torch.rand(3, 1, 40, 24, generator=generator)
    with torch.no_grad():
        return model(mixture, query)


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("residual", [False, True])
def test_an_exact_widening_keeps_every_mask(factor, residual):
    narrow, wide = _pair(factor, residual=residual)
    widen_into(narrow, wide, factor, noise=0.0)
    assert wide.head.in_channels == factor * narrow.head.in_channels
    torch.testing.assert_close(_masks(wide), _masks(narrow), atol=1e-5, rtol=0)


def test_noise_tells_the_copies_apart_and_keeps_the_masks_close():
    narrow, wide = _pair(2)
    widen_into(narrow, wide, 2, noise=0.01, generator=torch.Generator().manual_seed(0))
    first_conv = wide.encoders[0].conv1.weight
    assert not torch.equal(first_conv[0::2], first_conv[1::2])  # copies, no longer equal
    torch.testing.assert_close(first_conv[0::2], first_conv[1::2], atol=0.05, rtol=0)
    difference = (_masks(wide) - _masks(narrow)).abs().mean()
    fresh = ConditionedUNet(base_channels=8, depth=3).eval()
    assert difference < 0.01 < (_masks(fresh) - _masks(narrow)).abs().mean()


@pytest.mark.parametrize(
    ("narrow_settings", "wide_settings"),
    [
        ({}, {"residual": True}),  # other blocks
        ({}, {"depth": 2}),
        ({"conditioning": "concat"}, {"conditioning": "concat"}),  # tiled input channels
    ],
)
def test_only_a_wider_copy_of_the_same_film_net_is_filled(narrow_settings, wide_settings):
    narrow = ConditionedUNet(**({"base_channels": 4, "depth": 3} | narrow_settings))
    wide = ConditionedUNet(**({"base_channels": 8, "depth": 3} | wide_settings))
    with pytest.raises(ValueError):
        widen_into(narrow, wide, 2)
