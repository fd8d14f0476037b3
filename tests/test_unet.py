"""Shapes, conditioning and checkpoint round trip of the shared query-conditioned U-Net."""

from __future__ import annotations

import pytest
import torch

from bachata_sep.unet import ConditionedUNet, _presence_features


def tiny_unet(**overrides) -> ConditionedUNet:
    config = {"base_channels": 4, "depth": 3, "embedding_dim": 8, **overrides}
    return ConditionedUNet(**config)


@pytest.mark.parametrize("condition_encoder", [True, False])
@pytest.mark.parametrize("shape", [(28, 28), (513, 87), (33, 7)])
def test_mask_has_the_mixture_shape_and_gradients_flow(shape, condition_encoder):
    torch.manual_seed(0)
    model = tiny_unet(condition_encoder=condition_encoder)
    mixture = torch.rand(2, 1, *shape)
    query = torch.rand(2, 1, 40, 31)  # a query need not match the mixture's size
    mask = model(mixture, query)
    assert mask.shape == mixture.shape
    assert mask.min() >= 0 and mask.max() <= 1
    mask.mean().backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused


def test_query_changes_the_mask_once_conditioning_is_trained():
    torch.manual_seed(0)
    model = tiny_unet().eval()
    for parameter in model.parameters():  # FiLM starts as the identity; perturb it
        torch.nn.init.normal_(parameter, std=0.3)
    mixture = torch.rand(1, 1, 28, 28)
    first = model(mixture, torch.rand(1, 1, 28, 28))
    second = model(mixture, torch.rand(1, 1, 28, 28))
    assert not torch.allclose(first, second)


def test_a_reused_embedding_gives_the_same_mask_as_the_query():
    torch.manual_seed(0)
    model = tiny_unet().eval()
    mixtures = torch.rand(3, 1, 30, 20)
    query = torch.rand(1, 1, 30, 20)
    with torch.no_grad():
        embedding = model.encode_query(query)
        assert embedding.shape == (1, 8)
        direct = model(mixtures, query.expand(3, -1, -1, -1))
        reused = model(mixtures, query_embedding=embedding[0])
    torch.testing.assert_close(direct, reused)


def test_several_examples_average_their_embeddings():
    torch.manual_seed(0)
    model = tiny_unet().eval()
    examples = torch.rand(2, 3, 1, 28, 28)
    with torch.no_grad():
        averaged = model.encode_query(examples)
        one_by_one = torch.stack([model.encode_query(examples[:, k]) for k in range(3)]).mean(0)
    torch.testing.assert_close(averaged, one_by_one)


def test_exactly_one_of_query_and_embedding():
    model = tiny_unet()
    mixture = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="exactly one"):
        model(mixture)
    with pytest.raises(ValueError, match="exactly one"):
        model(mixture, mixture, model.encode_query(mixture))


@pytest.mark.parametrize("shape", [(28, 28), (33, 7)])
def test_frequency_mixing_starts_as_the_plain_unet_then_learns(shape):
    torch.manual_seed(0)
    plain = tiny_unet().eval()
    for parameter in plain.parameters():  # FiLM starts as the identity; perturb it
        torch.nn.init.normal_(parameter, std=0.3)
    mixing = tiny_unet(frequency_mixing=True, height=shape[0]).eval()
    loaded = mixing.load_state_dict(plain.state_dict(), strict=False)
    assert not loaded.unexpected_keys
    assert {key.split(".")[0] for key in loaded.missing_keys} == {"mixers"}
    assert len(mixing.mixers) == 2 * mixing.depth + 1  # after every block
    mixture, query = torch.rand(2, 1, *shape), torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(mixing(mixture, query), plain(mixture, query))
    mixing(mixture, query).mean().backward()
    assert all(mixer.up.weight.grad.abs().sum() > 0 for mixer in mixing.mixers)
    with torch.no_grad():
        for mixer in mixing.mixers:
            mixer.up.weight.normal_(std=0.3)
        assert (mixing(mixture, query) - plain(mixture, query)).abs().max() > 1e-3


def test_frequency_mixing_needs_the_height():
    with pytest.raises(ValueError, match="frequency mixing needs the input's height"):
        tiny_unet(frequency_mixing=True)


def test_save_and_load_round_trip_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    model = tiny_unet(condition_encoder=False, presence_head=True).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    loaded = ConditionedUNet.from_pretrained(tmp_path, strict=True).eval()
    mixture, query = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mixture, query), model(mixture, query))
    assert loaded.depth == model.depth and loaded.encoders[0].film is None


def test_presence_head_gates_the_mask_on_or_off():
    torch.manual_seed(0)
    model = tiny_unet(presence_head=True).eval()
    mixture, query = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        model.presence[-1].bias.fill_(50.0)  # sure it is there: the mask as it is
        mask_logits, presence_logits = model.outputs(mixture, query)
        torch.testing.assert_close(model(mixture, query), torch.sigmoid(mask_logits))
        model.presence[-1].bias.fill_(-50.0)  # sure it is not: nothing
        assert model(mixture, query).abs().sum() == 0
    assert presence_logits.shape == (3, 1)
    assert tiny_unet().outputs(mixture, query)[1] is None


def test_presence_head_learns_from_the_query():
    """The head sees the query through FiLM, so it can say 'not in this mixture'."""
    torch.manual_seed(0)
    model = tiny_unet(presence_head=True)
    _, presence = model.outputs(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28))
    presence.sum().backward()
    assert model.bottleneck.film.project.weight.grad.abs().sum() > 0


def test_presence_reads_what_the_mask_picked_out_beside_the_query():
    features = torch.zeros(1, 2, 4, 4)
    features[0, 0, :2] = 3.0  # channel 0 lights the top half, channel 1 nothing
    mask_logits = torch.full((1, 1, 4, 4), -30.0)
    mask_logits[0, 0, :2] = 30.0  # the mask picks the top half
    embedding = torch.tensor([[5.0, 6.0]])
    pooled = _presence_features(features, mask_logits, embedding)
    mean, peak, under_mask = pooled[0, :2], pooled[0, 2:4], pooled[0, 4:6]
    torch.testing.assert_close(mean, torch.tensor([1.5, 0.0]))
    torch.testing.assert_close(peak, torch.tensor([3.0, 0.0]))
    torch.testing.assert_close(under_mask, torch.tensor([3.0, 0.0]))
    torch.testing.assert_close(pooled[0, 6:], embedding[0])


def test_time_mixing_starts_as_frequency_mixing_then_learns():
    torch.manual_seed(0)
    shape = (33, 20)
    frequency = tiny_unet(frequency_mixing=True, height=shape[0]).eval()
    for parameter in frequency.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    both = tiny_unet(frequency_mixing=True, time_mixing=True, height=shape[0], width=shape[1])
    loaded = both.eval().load_state_dict(frequency.state_dict(), strict=False)
    assert not loaded.unexpected_keys
    assert {key.split(".")[-2] for key in loaded.missing_keys} == {"time_down", "time_up"}
    # levels of 24, 12, 6 and 3 frames (20 padded to a multiple of 8), encoders then decoders
    assert [mixer.time_down.in_features for mixer in both.mixers] == [24, 12, 6, 3, 6, 12, 24]
    mixture, query = torch.rand(2, 1, *shape), torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(both(mixture, query), frequency(mixture, query))
    both(mixture, query).mean().backward()
    assert all(mixer.time_up.weight.grad.abs().sum() > 0 for mixer in both.mixers)


def test_time_mixing_needs_frequency_mixing_and_the_width():
    with pytest.raises(ValueError, match="time mixing needs frequency mixing"):
        tiny_unet(time_mixing=True, width=20)
    with pytest.raises(ValueError, match="time mixing needs frequency mixing"):
        tiny_unet(frequency_mixing=True, time_mixing=True, height=33)


def test_presence_encoder_compares_the_whole_mixture_with_the_query():
    torch.manual_seed(0)
    model = tiny_unet(presence_head=True, presence_encoder=True)
    mixture, query = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    _, presence = model.outputs(mixture, query)
    presence.sum().backward()
    assert model.mixture_encoder.project[-1].weight.grad.abs().sum() > 0
    given = model.mixture_encoder(mixture).detach()
    _, again = model.outputs(mixture, query, mixture_embedding=given)
    torch.testing.assert_close(again, presence)
    _, other = model.outputs(mixture, query, mixture_embedding=given + 1.0)
    assert not torch.allclose(other, presence)


def test_presence_encoder_needs_the_presence_head():
    with pytest.raises(ValueError, match="presence encoder needs the presence head"):
        tiny_unet(presence_encoder=True)
