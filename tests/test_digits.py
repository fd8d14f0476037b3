"""Digits proof of concept: triplet construction, metrics, CLI and the committed checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from bachata_sep import cli
from bachata_sep.digits.data import (
    DIGITS_PER_OVERLAY,
    INK_THRESHOLD,
    OverlayTriplets,
    SteeringQueries,
    load_splits,
    make_triplet,
)
from bachata_sep.digits.evaluate import load_model
from bachata_sep.digits.metrics import (
    false_positive_pixels,
    per_item_scores,
    steering_hits,
    summarize,
)
from bachata_sep.digits.train import WithQueryClassifier, calibrate_presence, mask_loss
from bachata_sep.errors import BadInputError
from bachata_sep.unet import ConditionedUNet

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "digits"
IOU_TOLERANCE = 0.02
FP_TOLERANCE = 0.05  # ~200 absent queries in the test: a binomial spread of +-0.035
STEERING_TOLERANCE = 0.02  # 4,000 queries in the test


@pytest.fixture(scope="module")
def splits():
    return load_splits()


def test_split_is_by_image_and_stratified(splits):
    sizes = [len(splits.train), len(splits.validation), len(splits.test)]
    assert sizes == [3500, 500, 1000]
    for part in (splits.train, splits.validation, splits.test):
        assert np.all(np.bincount(part.labels, minlength=10) == len(part) // 10)
    rows = {
        name: {image.tobytes() for image in getattr(splits, name).images}
        for name in ("train", "validation", "test")
    }
    assert not rows["train"] & rows["test"]
    assert not rows["train"] & rows["validation"]


@pytest.mark.parametrize("overlay", ["mean", "max"])
def test_present_triplet_is_exact(splits, overlay):
    images = splits.test
    for seed in range(20):
        triplet = make_triplet(images, np.random.default_rng(seed), overlay=overlay)
        assert triplet.present and len(set(triplet.classes)) == DIGITS_PER_OVERLAY
        assert triplet.target in triplet.classes
        # Rebuild the overlay from the classes' images: exactly one combination matches.
        rng = np.random.default_rng(seed)
        classes = rng.choice(10, DIGITS_PER_OVERLAY + 1, replace=False)
        chosen = [rng.choice(images.by_class[d]) for d in classes[:DIGITS_PER_OVERLAY]]
        digits = images.images[chosen]
        expected = digits.max(0) if overlay == "max" else digits.sum(0) / DIGITS_PER_OVERLAY
        np.testing.assert_allclose(triplet.overlay, expected, rtol=1e-6)
        np.testing.assert_array_equal(triplet.mask, digits[0] > INK_THRESHOLD)
        assert images.labels[chosen[0]] == triplet.target
        # The query is another image of the target class, never the overlaid one.
        query_matches = np.flatnonzero(
            (images.images == triplet.query).reshape(len(images), -1).all(1)
        )
        assert all(images.labels[query_matches] == triplet.target)
        assert not np.array_equal(triplet.query, digits[0])
        # Every mask pixel shows in the overlay, overlaps included; "all ink" is every digit's.
        assert np.all(triplet.overlay[triplet.mask > 0] > INK_THRESHOLD / DIGITS_PER_OVERLAY)
        np.testing.assert_array_equal(triplet.ink, (digits > INK_THRESHOLD).any(0))
        # Visible: the target's pixels where none of the other three digits has ink.
        hidden = (digits[1:] > INK_THRESHOLD).any(0)
        np.testing.assert_array_equal(triplet.visible, (digits[0] > INK_THRESHOLD) & ~hidden)


def test_absent_triplet_queries_a_missing_class_with_an_empty_mask(splits):
    for seed in range(20):
        triplet = make_triplet(splits.test, np.random.default_rng(seed), absent=True)
        assert not triplet.present
        assert triplet.target not in triplet.classes
        assert triplet.mask.sum() == 0 and triplet.visible.sum() == 0


def test_mean_overlay_keeps_how_many_digits_ink_a_pixel_and_max_does_not(splits):
    rng = np.random.default_rng(3)
    mean = make_triplet(splits.test, rng, overlay="mean")
    levels = np.unique(np.round(mean.overlay * DIGITS_PER_OVERLAY))
    assert levels.max() >= 2  # some pixel is inked by two digits at once
    assert make_triplet(splits.test, np.random.default_rng(3), overlay="max").overlay.max() <= 1
    with pytest.raises(ValueError, match="unknown overlay"):
        make_triplet(splits.test, rng, overlay="sum")


def test_dataset_is_reproducible_and_mixes_absent_queries(splits):
    first = OverlayTriplets(splits.train, 200, seed=7, absent_fraction=0.25)
    second = OverlayTriplets(splits.train, 200, seed=7, absent_fraction=0.25)
    overlay, query, mask, present, query_class, overlay_classes = first[5]
    assert overlay.shape == query.shape == mask.shape == (1, 28, 28)
    assert first.triplet(5).target == query_class
    assert overlay_classes.nonzero()[:, 0].tolist() == list(first.triplet(5).classes)
    for a, b in zip(first[5], second[5], strict=True):
        torch.testing.assert_close(a, b)
    absent = sum(not bool(first[i][3]) for i in range(len(first)))
    assert 25 <= absent <= 75


def test_metrics_on_hand_made_masks():
    truth = torch.zeros(3, 1, 4, 4)
    truth[0, 0, :2, :2] = 1  # 4 pixels
    prediction = torch.zeros(3, 1, 4, 4)
    prediction[0, 0, :2, :1] = 1  # 2 of them: IoU 0.5, Dice 2/3
    prediction[1, 0, 0, 0] = 1  # absent, 1 pixel: below the 1% floor of... a 4x4 image
    iou, dice = per_item_scores(prediction[:1], truth[:1])
    assert iou.item() == pytest.approx(0.5) and dice.item() == pytest.approx(2 / 3)
    present = torch.tensor([True, False, False])
    scores = summarize(prediction, truth, present)
    assert scores["mean_iou"] == pytest.approx(0.5)
    assert scores["n_present"] == 1 and scores["n_absent"] == 2
    assert false_positive_pixels(4, 4) == 1  # ceil(0.16): any pixel counts on 4x4
    assert scores["absent_fp_rate"] == pytest.approx(0.5)
    assert false_positive_pixels(28, 28) == 8


def test_steering_queries_ask_for_each_digit_with_another_image_of_it(splits):
    images = splits.test
    steering = SteeringQueries(images, 5, seed=2)
    for index in range(len(steering)):
        drawn, queries = steering[index]
        again, same = SteeringQueries(images, 5, seed=2)[index]
        np.testing.assert_array_equal(queries, same)
        assert len(set(drawn.classes)) == DIGITS_PER_OVERLAY == len(queries)
        for digit, chosen, query in zip(drawn.classes, drawn.chosen, queries, strict=True):
            assert images.labels[chosen] == digit
            matches = np.flatnonzero((images.images == query).reshape(len(images), -1).all(1))
            assert all(images.labels[matches] == digit) and chosen not in matches
        np.testing.assert_array_equal(drawn.masks, images.images[list(drawn.chosen)] > 0.5)


def test_steering_hits_only_when_the_queried_digit_overlaps_most():
    masks = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    for k in range(4):
        masks[0, k, k] = True  # digit k is row k
    answers = masks.clone()
    answers[0, 1] = masks[0, 2]  # query 1 gets digit 2 back
    answers[0, 2] = False  # query 2 gets nothing: no overlap with any digit is a miss
    answers[0, 3] = masks[0, 3] | masks[0, 0]  # a tie between digits 3 and 0 is a miss
    hits = steering_hits(answers, masks)
    assert hits.tolist() == [[True, False, False, False]]
    answers[0, 3, 3, :3] = True  # now more of digit 3 than of digit 0
    answers[0, 3, 0] = False
    assert steering_hits(answers, masks)[0, 3]


def test_query_classifier_trains_the_query_encoder_and_is_not_saved(tmp_path):
    torch.manual_seed(0)
    unet = ConditionedUNet(base_channels=4, depth=2, embedding_dim=8, presence_head=True)
    trainee = WithQueryClassifier(unet)
    _, _, class_logits, overlay_logits = trainee(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28))
    assert class_logits.shape == (2, 10) and overlay_logits is None
    torch.nn.functional.cross_entropy(class_logits, torch.tensor([3, 7])).backward()
    assert unet.query_encoder.project[0].weight.grad.abs().sum() > 0
    unet.save_pretrained(tmp_path)
    loaded = ConditionedUNet.from_pretrained(tmp_path)
    assert not hasattr(loaded, "query_classifier")


def test_overlay_classifier_trains_the_presence_encoder_and_is_not_saved(tmp_path):
    torch.manual_seed(0)
    unet = ConditionedUNet(
        base_channels=4, depth=2, embedding_dim=8, presence_head=True, presence_encoder=True
    )
    trainee = WithQueryClassifier(unet)
    overlay = torch.rand(2, 1, 28, 28)
    mask, presence, _, overlay_logits = trainee(overlay, torch.rand(2, 1, 28, 28))
    assert overlay_logits.shape == (2, 10)
    four = torch.zeros(2, 10)
    four[:, :4] = 1.0
    torch.nn.functional.binary_cross_entropy_with_logits(overlay_logits, four).backward()
    assert unet.mixture_encoder.project[0].weight.grad.abs().sum() > 0
    unet.save_pretrained(tmp_path)
    loaded = ConditionedUNet.from_pretrained(tmp_path, strict=True)
    assert not hasattr(loaded, "overlay_classifier")
    with torch.no_grad():
        assert loaded.outputs(overlay, torch.rand(2, 1, 28, 28))[0].shape == mask.shape


def test_missing_mnist_folder_is_a_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="lacks"):
        load_splits(tmp_path)


def test_bad_checkpoint_path_is_one_line_error(tmp_path, capsys):
    status = cli.main(["digits", "evaluate", "--checkpoint", str(tmp_path / "nope"), "--json"])
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("bachata-sep: error:") and "\n" not in error


def _model_card_value(key: str) -> float:
    card = (CHECKPOINT / "README.md").read_text()
    match = re.search(rf"^{key}:\s*([0-9.]+)\s*$", card, re.MULTILINE)
    assert match, f"model card lacks a '{key}: X' line"
    return float(match.group(1))


def test_committed_checkpoint_loads_offline_strictly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (CHECKPOINT / "model.safetensors").stat().st_size <= 25 * 2**20
    model = load_model(CHECKPOINT)
    assert model(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_evaluate_command_reaches_the_model_card_metrics(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    figure = tmp_path / "grid.png"
    argv = ["digits", "evaluate", "--checkpoint", str(CHECKPOINT), "--json"]
    status = cli.main([*argv, "--overlays", "1000", "--figure", str(figure), "--device", "cpu"])
    assert status == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n_present"] + scores["n_absent"] == 1000 and scores["n_absent"] > 0
    assert scores["overlay"] == "mean"
    assert scores["mean_iou"] >= _model_card_value("min_test_iou") - IOU_TOLERANCE
    steering = _model_card_value("min_query_steering")
    assert scores["query_steering"] >= steering - STEERING_TOLERANCE
    assert scores["mean_dice"] >= scores["mean_iou"]
    # The presence gate can only empty masks, so it never raises a present query's IoU.
    assert scores["mask_only_iou"] >= scores["mean_iou"]
    # The model must beat answering with the overlay's whole ink.
    assert scores["mean_iou"] > scores["all_ink_iou"] + 0.1
    assert 0 < scores["visible_fraction"] < 1
    assert scores["absent_fp_rate"] <= _model_card_value("max_absent_fp_rate") + FP_TOLERANCE
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_scores_the_overlay_it_is_asked_for(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["digits", "evaluate", "--checkpoint", str(CHECKPOINT), "--overlays", "40"]
    scores = {}
    for overlay in ("mean", "max"):
        assert cli.main([*argv, "--overlay", overlay, "--json", "--device", "cpu"]) == 0
        scores[overlay] = json.loads(capsys.readouterr().out)
        assert scores[overlay]["overlay"] == overlay
    assert scores["mean"]["mean_iou"] != scores["max"]["mean_iou"]
    assert scores["mean"]["all_ink_iou"] == scores["max"]["all_ink_iou"]  # same digits


def test_with_a_presence_head_absent_items_teach_presence_not_the_mask():
    torch.manual_seed(0)
    mask = (torch.rand(4, 1, 8, 8) > 0.7).float()
    present = torch.tensor([True, True, False, False])
    mask[~present] = 0
    logits, presence = torch.randn(4, 1, 8, 8), torch.randn(4, 1)
    changed = logits.clone()
    changed[~present] = 9.0  # the mask of an absent item is not scored...
    assert mask_loss(changed, presence, mask, present) == pytest.approx(
        mask_loss(logits, presence, mask, present).item()
    )
    sure = torch.where(present, 9.0, -9.0)[:, None]  # ...its presence is
    assert mask_loss(logits, sure, mask, present) < mask_loss(logits, -sure, mask, present)
    # Without a head the mask itself must stay empty on absent items.
    assert mask_loss(changed, None, mask, present) > mask_loss(logits, None, mask, present)


class _KnownPresence(torch.nn.Module):
    """Perfect masks, an absent query drawn as a blob, presence logits 2 (present) or 1."""

    def __init__(self, masks: torch.Tensor, present: torch.Tensor) -> None:
        super().__init__()
        self.masks, self.present = masks, present
        self.presence = torch.nn.Sequential(torch.nn.Linear(1, 1))

    def outputs(self, overlay: torch.Tensor, query: torch.Tensor) -> tuple:
        drawn = torch.where(self.present[:, None, None, None], self.masks, 1.0)
        bias = self.presence[-1].bias.detach()
        return 20 * drawn - 10, torch.where(self.present, 2.0, 1.0)[:, None] + bias


def test_presence_calibration_moves_the_threshold_between_present_and_absent():
    masks = torch.zeros(6, 1, 28, 28)
    masks[:4, 0, 5:15, 5:15] = 1
    present = torch.tensor([True] * 4 + [False] * 2)
    triplets = [(masks[i], masks[i], masks[i], present[i]) for i in range(6)]
    model = _KnownPresence(masks, present)
    torch.nn.init.zeros_(model.presence[-1].bias)
    shift = calibrate_presence(model, triplets, torch.device("cpu"))
    assert 1.0 < shift <= 2.0  # absent queries (logit 1) are cut, present ones (2) kept
    assert model.presence[-1].bias.item() == pytest.approx(-shift)
    _, logits = model.outputs(masks, masks)
    assert torch.equal(logits[:, 0] >= 0, present)


def test_train_logs_validation_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "digits"
    argv = ["digits", "train", "--out", str(out), "--batch-size", "8", "--device", "cpu"]
    assert cli.main([*argv, "--steps", "4", "--validation-every", "2"]) == 0
    assert cli.main([*argv, "--steps", "6", "--validation-every", "2", "--resume"]) == 0
    log = (out / "training_log.csv").read_text().splitlines()
    assert [float(row.split(",")[0]) for row in log[1:]] == [2, 4, 6]
    model = load_model(out)
    assert model.presence is not None
    assert not any("classifier" in name for name in model.state_dict())
