import torch

from bachata_sep.adversarial import Adversary, PatchDiscriminator
from bachata_sep.model import InstrumentModel
from bachata_sep.spec import ClipSpec
from bachata_sep.transforms import heatmap

SPEC = ClipSpec()


def _batch(items: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    target = torch.rand(items, SPEC.n_bins, SPEC.n_frames)
    mixture = target + torch.rand(items, SPEC.n_bins, SPEC.n_frames)
    return {
        "mixture_magnitude": mixture,
        "target_magnitude": target,
        "mixture_heatmap": heatmap(mixture)[:, None],
    }


def _adversary() -> Adversary:
    model = InstrumentModel("bass", SPEC.to_dict(), frequency_pool=4, unet={"depth": 2})
    return Adversary(0.5, model.pool, torch.device("cpu"))


def test_heatmap_on_a_reference_scale_keeps_the_relative_level():
    loud = torch.rand(SPEC.n_bins, SPEC.n_frames) + 0.5
    quiet = loud * 0.01  # 40 dB down
    assert torch.allclose(heatmap(quiet), heatmap(loud))  # each on its own scale
    drop = (heatmap(loud, reference=loud) - heatmap(quiet, reference=loud)).mean()
    assert abs(float(drop) - 40 / 80) < 1e-4  # 40 dB of an 80 dB range


def test_discriminator_scores_patches():
    scores = PatchDiscriminator()(torch.rand(3, 1, 177, 128), torch.rand(3, 1, 177, 128))
    assert scores.shape == (3, 1, 177 // 8, 128 // 8)  # one score per 8x8 step


def test_generator_loss_reaches_the_separator_only():
    adversary = _adversary()
    mask = torch.rand(2, SPEC.n_bins, SPEC.n_frames, requires_grad=True)
    loss = adversary.generator_loss(adversary.heatmaps(mask, _batch()))
    loss.backward()
    assert mask.grad is not None and float(mask.grad.abs().sum()) > 0
    assert all(p.grad is None for p in adversary.discriminator.parameters())
    assert all(p.requires_grad for p in adversary.discriminator.parameters())


def test_discriminator_learns_to_tell_true_stems_from_estimates():
    adversary = _adversary()
    blurred = torch.full((2, SPEC.n_bins, SPEC.n_frames), 0.5)  # a mask that smears
    judged = adversary.heatmaps(blurred, _batch())
    losses = [adversary.step(judged) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
