"""Distillation (`mnist-train --distill-from`): the digits also learn shipped versions' answers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuralnet.artifact import load_artifact
from neuralnet.inference import InferenceModel
from neuralnet.losses import log_softmax, one_hot, softmax_cross_entropy
from training.cli import main
from training.data import Mnist
from training.distillation import Teachers, soft_target_loss
from training.train import TrainConfig, train


def test_the_soft_term_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    z, t = rng.normal(size=(5, 10)), rng.normal(scale=3, size=(5, 10))
    _, grad = soft_target_loss(z, t, 2.5)
    eps, numeric = 1e-6, np.zeros_like(z)
    for i in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (soft_target_loss(up, t, 2.5)[0] - soft_target_loss(down, t, 2.5)[0]) / (2 * eps)
    assert np.allclose(grad, numeric, atol=1e-7)


def test_at_temperature_one_the_loss_is_cross_entropy_on_blended_targets() -> None:
    rng = np.random.default_rng(1)
    z, t = rng.normal(size=(6, 10)), rng.normal(scale=2, size=(6, 10))
    labels = rng.integers(10, size=6)
    teachers = Teachers([], weight=0.3, temperature=1.0, provenance=[])
    teachers.logits = lambda pixels: t  # type: ignore[method-assign]
    loss, grad = teachers.loss(z, labels, np.zeros((6, 28, 28)))
    blended = 0.7 * one_hot(labels, 10, np.float64) + 0.3 * np.exp(log_softmax(t))
    expected_loss, expected_grad = softmax_cross_entropy(z, blended)
    assert loss == pytest.approx(expected_loss)
    assert np.allclose(grad, expected_grad)


def test_a_taught_network_learns_from_its_teacher_what_the_labels_do_not_say(
        mnist: Mnist, weights_dir: Path) -> None:
    """With the training labels shuffled, only the teacher knows the digits: a network taught with
    weight 1 reads them, one trained on the labels alone cannot."""
    teacher = weights_dir / "mnist-mlp" / "3.npz"
    shuffled = replace(mnist, train_labels=np.random.default_rng(0).permutation(mnist.train_labels))
    plain = TrainConfig(arch="mlp", epochs=2, limit_train=1000, seed=3)
    taught = replace(plain, distill_from=(str(teacher),), distill_weight=1.0)
    _, plain_metrics, _ = train(plain, shuffled, progress=False, log=lambda *a: None)
    _, taught_metrics, _ = train(taught, shuffled, progress=False, log=lambda *a: None)
    assert plain_metrics["test_accuracy"] < 0.3
    assert taught_metrics["test_accuracy"] > 0.7
    assert taught_metrics["distilled_from"] == [
        {"model_name": "mnist-mlp", "version": 3, "sha256": load_artifact(teacher).sha256}]
    assert plain_metrics["distilled_from"] == []


def test_the_teachers_answer_what_the_service_answers(mnist: Mnist, weights_dir: Path) -> None:
    """The student learns the mean of the logits the served versions give the same digits, however
    the teachers split a batch over threads."""
    paths = [weights_dir / "mnist-cnn" / "2.npz", weights_dir / "mnist-mlp" / "3.npz"]
    teachers = Teachers.load([str(p) for p in paths], weight=0.5, temperature=2.0)
    pixels = mnist.test_images[:40]  # three conv chunks and a part
    served = [InferenceModel.from_artifact(load_artifact(p)).logits(pixels) for p in paths]
    taught = teachers.logits(pixels.astype(np.float32) / 255)
    np.testing.assert_allclose(taught, (served[0] + served[1]) / 2, rtol=1e-4, atol=1e-4)
    assert (taught.argmax(axis=1) == mnist.test_labels[:40]).mean() > 0.9


def test_the_artifact_records_its_teachers(mnist: Mnist, weights_dir: Path, tmp_path) -> None:
    teacher = weights_dir / "mnist-mlp" / "3.npz"
    assert main(["--arch", "mlp", "--epochs", "1", "--limit-train", "300", "--no-progress", "--no-report",
                 "--weights-dir", str(tmp_path), "--distill-from", str(teacher),
                 "--distill-temperature", "3"]) == 0
    training = load_artifact(tmp_path / "mnist-mlp" / "1.npz").metadata["training"]
    assert training["distilled_from"] == [
        {"model_name": "mnist-mlp", "version": 3, "sha256": load_artifact(teacher).sha256}]
    assert (training["distill_weight"], training["distill_temperature"]) == (0.5, 3.0)


@pytest.mark.parametrize(("flags", "message"), [
    (["--distill-from", "nowhere.npz"], "--distill-from: "),
    (["--distill-weight", "1.5"], "--distill-weight 1.5 (a share from 0 to 1)"),
    (["--distill-temperature", "0"], "--distill-temperature 0.0 (above 0)"),
])
def test_the_cli_refuses_a_teacher_it_cannot_use(flags: list[str], message: str, weights_dir: Path,
                                                 tmp_path, capsys) -> None:
    mlp = weights_dir / "mnist-mlp" / "3.npz"
    teacher = [] if flags[0] == "--distill-from" else ["--distill-from", str(mlp)]
    assert main(["--no-progress", "--weights-dir", str(tmp_path), *teacher, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
