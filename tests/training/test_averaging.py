"""Weight averaging over a run's last epochs (`mnist-train --average-from`)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.artifact import load_artifact
from neuralnet.layers import BatchNorm, Dense, Flatten
from neuralnet.network import Sequential
from training.averaging import averaged_state, refit_batchnorm
from training.checkpoints import Checkpoint
from training.cli import main
from training.data import Mnist
from training.train import TrainConfig, train


def checkpoint(epoch: int, w: float) -> Checkpoint:
    return Checkpoint(epoch, {"0.W": np.full((2, 2), w, np.float32)}, {"epoch": epoch})


def test_the_average_is_of_the_chosen_epochs_only() -> None:
    runs = [checkpoint(1, 100.0), checkpoint(2, 1.0), checkpoint(3, 2.0), checkpoint(4, 6.0)]
    state, epochs = averaged_state(runs, 2)
    assert epochs == [2, 3, 4]
    assert np.allclose(state["0.W"], 3.0) and state["0.W"].dtype == np.float32
    with pytest.raises(ValueError, match=r"no checkpoint from epoch 5 on \(the last is epoch 4\)"):
        averaged_state(runs, 5)


def test_batch_norm_statistics_are_measured_afresh_for_the_averaged_weights() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Flatten(), Dense(784, 3, rng), BatchNorm(3)])
    norm = model.layers[2]
    assert isinstance(norm, BatchNorm)
    norm.stats_rows = 7  # left from outlier exposure: the refit must use every row, then restore it
    x = rng.normal(2.0, 3.0, size=(1000, 28, 28, 1)).astype(np.float32)
    refit_batchnorm(model, x, batch_size=250)
    hidden = model.layers[1].forward(x.reshape(len(x), -1))
    batches = hidden.reshape(4, 250, 3)
    assert np.allclose(norm.running_mean, batches.mean(axis=1).mean(axis=0), rtol=1e-4, atol=1e-4)
    assert np.allclose(norm.running_var, batches.var(axis=1).mean(axis=0), rtol=1e-4)
    assert norm.momentum == 0.9 and norm.stats_rows == 7


def test_the_cli_ships_the_average_of_a_finished_run_without_training_again(mnist: Mnist, tmp_path,
                                                                            capsys) -> None:
    weights, ck = tmp_path / "weights", tmp_path / "ck"
    args = ["--arch", "mlp", "--epochs", "3", "--limit-train", "1000", "--no-progress", "--no-report",
            "--weights-dir", str(weights), "--seed", "4", "--checkpoint-dir", str(ck),
            "--outlier-weight", "0.5", "--outlier-kinds", "blank"]
    assert main(args) == 0
    best = load_artifact(weights / "mnist-mlp" / "1.npz")
    assert main([*args, "--resume", "--average-from", "2"]) == 0
    averaged = load_artifact(weights / "mnist-mlp" / "2.npz")
    assert averaged.metadata["training"]["average_from"] == 2
    assert averaged.metadata["metrics"]["best_epoch"] == [2, 3]
    assert averaged.metadata["history"] == best.metadata["history"]  # nothing trained again
    # how the weights were trained is recorded as it was, though this invocation trained nothing
    assert averaged.metadata["ood"]["outlier_training"] == "outlier exposure, weight 0.5"
    assert not np.array_equal(averaged.arrays["layers.1.W"], best.arrays["layers.1.W"])
    assert averaged.metadata["metrics"]["test_accuracy"] > 0.8  # a working network, not a broken mix
    assert "epoch [2, 3]" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--average-from", "2"], "--average-from needs --checkpoint-dir"),
    (["--average-from", "4", "--checkpoint-dir", "ck"], "--average-from 4: an epoch from 1 to --epochs 3"),
])
def test_average_from_is_checked_before_anything_runs(tmp_path, capsys, extra, message) -> None:
    args = ["--arch", "mlp", "--epochs", "3", "--weights-dir", str(tmp_path / "w"), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_averaging_without_checkpoints_is_refused_before_any_training(mnist: Mnist) -> None:
    config = TrainConfig(arch="mlp", epochs=1, limit_train=100, average_from=1)
    with pytest.raises(ValueError, match="average_from needs checkpoint_dir"):
        train(config, mnist, progress=False, log=lambda *a: pytest.fail("it trained"))
