"""Per-epoch checkpoints (`mnist-train --checkpoint-dir`) and resuming a stopped run (`--resume`)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.artifact import load_artifact
from training.checkpoints import load_checkpoints, save_checkpoint
from training.cli import main
from training.data import Mnist


def test_checkpoints_round_trip_and_must_not_have_gaps(tmp_path) -> None:
    state = {"0.W": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_checkpoint(tmp_path, 1, state, {"epoch": 1, "val_accuracy": 0.5})
    save_checkpoint(tmp_path, 2, {"0.W": state["0.W"] + 1}, {"epoch": 2, "val_accuracy": 0.75})
    loaded = load_checkpoints(tmp_path)
    assert [c.epoch for c in loaded] == [1, 2]
    assert np.array_equal(loaded[1].state["0.W"], state["0.W"] + 1)
    assert loaded[1].row == {"epoch": 2.0, "val_accuracy": 0.75}
    assert not list(tmp_path.glob(".*partial"))  # no temporary file left behind
    (tmp_path / "epoch-001.npz").unlink()
    with pytest.raises(ValueError, match="not 1, 2"):
        load_checkpoints(tmp_path)


def test_a_stopped_run_resumes_at_the_next_epoch(mnist: Mnist, tmp_path, capsys) -> None:
    weights, ck = tmp_path / "weights", tmp_path / "ck"
    args = ["--arch", "mlp", "--epochs", "2", "--limit-train", "1000", "--no-progress", "--no-report",
            "--weights-dir", str(weights), "--seed", "4", "--checkpoint-dir", str(ck)]
    assert main(args) == 0
    whole = load_artifact(weights / "mnist-mlp" / "1.npz")
    # every epoch checkpointed: resuming trains nothing and gives the same best-epoch weights
    assert main([*args, "--resume"]) == 0
    again = load_artifact(weights / "mnist-mlp" / "2.npz")
    assert all(np.array_equal(whole.arrays[k], again.arrays[k]) for k in whole.arrays)
    assert again.metadata["history"] == whole.metadata["history"]
    # stopped after epoch 1: the resumed run trains epoch 2 only
    (ck / "epoch-002.npz").unlink()
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed after epoch 1" in out and "epoch   1/2" not in out and "epoch   2/2" in out
    resumed = load_artifact(weights / "mnist-mlp" / "3.npz").metadata
    assert [row["epoch"] for row in resumed["history"]] == [1, 2]
    assert (ck / "epoch-002.npz").exists()


def test_resume_without_a_checkpoint_dir_is_refused(tmp_path, capsys) -> None:
    assert main(["--resume", "--weights-dir", str(tmp_path)]) == 2
    assert "--resume needs --checkpoint-dir" in capsys.readouterr().err
