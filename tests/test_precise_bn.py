"""PreciseBN: BatchNorm's running statistics become those of the chosen training images, under the evaluated
weights, and a norm-batch training run saves (and evaluates) a checkpoint carrying them."""

from collections import defaultdict

import pytest
import torch

from rpsdet.classes import CLASS_NAMES
from rpsdet.model.checkpoint import load_checkpoint
from rpsdet.model.factory import build_effdet
from rpsdet.train.loop import TrainConfig, train
from rpsdet.train.precise_bn import precise_bn_loader, recompute_bn_stats

SIZE, BATCH = 128, 4


def _bn_layers(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


def test_running_stats_become_the_batch_statistics_of_the_chosen_images(tiny_splits):
    torch.manual_seed(0)
    model = build_effdet("efficientdet_d0", SIZE, len(CLASS_NAMES), "batch").eval()
    layers = _bn_layers(model)
    before = {name: (m.running_mean.clone(), m.momentum) for name, m in layers.items()}
    seen = defaultdict(list)  # each BN's input, as the pass feeds it
    hooks = [m.register_forward_pre_hook(lambda m, args, n=name: seen[n].append(args[0])) for name, m in layers.items()]
    loader = precise_bn_loader(tiny_splits / "train.json", SIZE, images=BATCH, batch_size=BATCH, seed=0)
    rng_before = torch.get_rng_state()
    recompute_bn_stats(model, loader, torch.device("cpu"))
    for hook in hooks:
        hook.remove()

    assert len(loader.dataset) == BATCH and not model.training
    assert torch.equal(torch.get_rng_state(), rng_before)  # drop-path draws leave training's generator alone
    for name, m in layers.items():
        calls = seen[name]
        assert calls, name
        mean = torch.stack([x.mean((0, 2, 3)) for x in calls]).mean(0)
        var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in calls]).mean(0)
        torch.testing.assert_close(m.running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m.running_var, var, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(m.running_mean, before[name][0])
        assert m.momentum == before[name][1]  # restored after the pass


def test_a_sample_is_whole_batches_of_distinct_images(tiny_splits):
    loader = precise_bn_loader(tiny_splits / "train.json", SIZE, images=10, batch_size=BATCH, seed=0)
    assert len(loader.dataset) == 8 and len(set(loader.dataset.indices)) == 8
    assert [len(images) for images, _, _ in loader] == [BATCH, BATCH]


def test_negative_precise_bn_images_is_refused():
    with pytest.raises(ValueError, match="precise_bn_images"):
        TrainConfig.from_params({"precise_bn_images": -1})


def test_a_batchnorm_run_saves_a_checkpoint_with_precise_statistics(tiny_splits, tmp_path):
    cfg = TrainConfig(
        norm="batch", precise_bn_images=2 * BATCH, epochs=1, image_size=SIZE, batch_size=BATCH,
        warmup_steps=2, eval_every=1, ema_decay=0.9, threads=2,
    )  # fmt: skip
    summary = train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt")
    model, config, ckpt = load_checkpoint(tmp_path / "model.pt")
    assert config["norm"] == "batch" and ckpt["epoch"] == summary["best_epoch"] == 1
    layers = _bn_layers(model)
    assert layers
    # update_bn counts its own batches: two of the sample's, not the training steps the EMA copy would carry.
    assert {int(m.num_batches_tracked) for m in layers.values()} == {2} != {summary["steps"]}
    assert all(torch.isfinite(m.running_var).all() and (m.running_var > 0).all() for m in layers.values())
