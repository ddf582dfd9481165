"""The text model (models/text.py): the batched LSTM against torch's own cell, padding, seeds alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config.resolve import resolve
from nalu_cli.models.text import BatchedLSTM, TextModel
from nalu_cli.training.evaluate import evaluate_range
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from nalu_cli.units.base import UnitOptions
from tests.conftest import assert_member_equals_alone


def test_batched_lstm_is_torchs_lstm_cell_per_seed() -> None:
    torch.manual_seed(0)
    cell = BatchedLSTM(torch.tensor([0, 1, 2]), 5, 4).double()
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    h, c = torch.randn(3, 6, 4, dtype=torch.float64), torch.randn(3, 6, 4, dtype=torch.float64)
    h_next, c_next = cell(x, (h, c))
    for s in range(3):
        ref = torch.nn.LSTMCell(5, 4).double()
        with torch.no_grad():
            ref.weight_ih.copy_(cell.W_ih[s].T)
            ref.weight_hh.copy_(cell.W_hh[s].T)
            ref.bias_ih.copy_(cell.b[s, 0])
            ref.bias_hh.zero_()
        want_h, want_c = ref(x[s], (h[s], c[s]))
        assert torch.allclose(h_next[s], want_h, atol=1e-12) and torch.allclose(c_next[s], want_c, atol=1e-12)


@pytest.mark.parametrize("units", [["lstm", "nalu"], ["lstm", "mlp"], ["nau", "nau"]])
def test_padding_is_skipped_so_the_output_does_not_depend_on_the_padded_length(units: list[str]) -> None:
    model = TextModel(torch.tensor([0, 1]), 10, units, 6, UnitOptions())
    tokens = torch.tensor([[[3, 4, 0, 0], [5, 0, 0, 0]], [[1, 2, 9, 0], [7, 7, 0, 0]]], dtype=torch.float32)
    longer = torch.cat([tokens, torch.zeros(2, 2, 5)], dim=-1)
    assert torch.equal(model(tokens), model(longer))
    assert model(tokens).shape == (2, 2, 1)
    inputs = model.forward_with_inputs(tokens)
    assert len(inputs) == len(model.units) + 1 and torch.equal(inputs[-1], model(tokens))


@pytest.mark.parametrize(
    ("mode", "units"),
    [
        ("words", ["lstm", "mlp"]),
        ("program", ["lstm", "mlp"]),
        ("words", ["lstm", "nalu"]),
        ("words", ["lstm", "nau"]),
        ("words", ["nau", "nau"]),  # a NAU cell of 8 outputs over 16 inputs (units/base.py _linear)
    ],
)
def test_batched_seeds_train_bit_identically_to_each_seed_alone(mode: str, units: list[str]) -> None:
    base = {"task.mode": mode, "model.unit": units, "model.hidden": [8], "train.batch_size": 16}
    together = Trainer(resolve(overrides={**base, "train.seeds": [4, 0, 9]}), torch.device("cpu"))
    alone = Trainer(resolve(overrides={**base, "train.seeds": [0]}), torch.device("cpu"))
    for _ in range(6):
        together.train_step()
        alone.train_step()
    assert_member_equals_alone(together, alone, 1)
    both = together.evaluate("extrapolation", 64)
    one = alone.evaluate("extrapolation", 64)
    assert both.accuracy is not None and one.accuracy is not None
    assert torch.equal(both.mse[1:2], one.mse) and torch.equal(both.accuracy[1:2], one.accuracy)


@pytest.mark.slow
def test_the_lstm_linear_baseline_learns_number_words() -> None:
    """The words defaults with the linear output, one seed (about a minute): the test numbers' MAE falls far
    below the 250 of always answering the mean (measured 2026-12-06: 79.5 for seed 0, docs/guide/words.md)."""
    trainer = Trainer(resolve(overrides={"task.mode": "words", "model.unit": ["lstm", "mlp"]}), torch.device("cpu"))
    before = trainer.evaluate("extrapolation", 64)
    for _ in range(trainer.config.train.steps):
        trainer.train_step()
    test = evaluate_range(trainer.model, trainer.task, trainer.task_seeds, trainer.task.interpolation, 1000, 1e-5,
                          rng.STREAM_TEST, trainer.dtype)  # fmt: skip
    assert float(test.mae[0]) < 120.0, float(test.mae[0])
    assert float(before.mae[0]) > 1000.0  # and the untrained model is nowhere near


@pytest.mark.parametrize("mode", ["words", "program"])
def test_an_interrupted_and_resumed_run_ends_bit_identical(mode: str, tmp_path: Path) -> None:
    overrides = {"task.mode": mode, "model.hidden": [8], "train.batch_size": 16, "train.seeds": [0, 1],
                 "train.steps": 30, "train.log_every": 10, "train.valid_samples": 32}  # fmt: skip
    cfg = resolve(overrides=overrides)
    train(cfg, tmp_path / "a")
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 12

    assert train(cfg, tmp_path / "b", should_stop=stop).interrupted
    train(cfg, tmp_path / "b", resume=True)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
