"""Training: real tiny runs; batched seeds equal seeds alone; NaN isolation; restarts; default configs solve."""

from __future__ import annotations

import math

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as config
from nalu_cli.training import trainer as train_module
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from nalu_cli.units.registry import UNITS
from tests.conftest import assert_member_equals_alone, tiny_config


def run_steps(cfg: config.Config, n: int) -> Trainer:
    trainer = Trainer(cfg, torch.device("cpu"))
    for _ in range(n):
        trainer.train_step()
    return trainer


BATCHED_CASES = [
        ("mul", "nmu", [], "pair", False),
        ("add", "nalu", [2], "pair", False),
        ("div", "realnpu", [], "pair", False),
        ("mul", ["nau", "nmu"], [2], "static", False),
        ("mul", ["nau", "nmu"], [2], "static", True),
        ("add", "mlp", [4], "pair", False),
        ("mul", "inalu", [], "pair", False),
        ("add", "nac_add", [], "pair", False),
        ("div", "nac_mul", [], "pair", False),
        ("sqrt", "nac_mul", [], "pair", False),
        ("add", "nau", [], "pair", False),
        ("mul", "npu", [], "pair", False),
        ("div", "nmru", [], "pair", False),
        # 100 inputs: NAC-family layers differed between a batch of seeds and one seed until 2026-11-30 (issue 15's
        # finding: for one seed and one output MKL took its matrix-vector path; units._matmul_wt avoids it).
        ("add", "nalu", [2], "static", False),
        ("add", "nac_add", [], "static", False),
]  # fmt: skip


def test_batched_cases_cover_every_unit() -> None:
    units = [case.values[1] if hasattr(case, "values") else case[1] for case in BATCHED_CASES]
    used = {u for unit in units for u in ([unit] if isinstance(unit, str) else unit)}
    assert used == set(UNITS), set(UNITS) - used


@pytest.mark.parametrize(("op", "unit", "hidden", "mode", "precondition"), BATCHED_CASES)
def test_batched_seeds_are_bit_identical_to_training_alone(
    op: str, unit: object, hidden: list[int], mode: str, precondition: bool
) -> None:
    common = {
        "model.unit": unit,
        "model.hidden": hidden,
        "task.mode": mode,
        "train.clip_grad": 1.0 if unit == "inalu" else None,
        "train.precondition": precondition,
        "train.restarts": 1,  # member i is seed i (some units' recipes train restarts)
    }
    together = run_steps(tiny_config(op, **common, **{"train.seeds": [4, 0, 9]}), 60)
    alone = run_steps(tiny_config(op, **common, **{"train.seeds": [0]}), 60)
    assert_member_equals_alone(together, alone, 1)
    for m_all, m_one in zip(together.optimizer.m, alone.optimizer.m, strict=True):
        assert torch.equal(m_all[1], m_one[0])


@pytest.mark.parametrize("count", [2, 5, 17])
def test_static_stack_batched_equals_alone_at_several_batch_sizes(count: int) -> None:
    """madsen2020's stack (100 inputs, NAU -> NMU, preconditioned) at several batch sizes; the seed alone sits
    first, in the middle and last (vector bodies and scalar tails of every elementwise kernel)."""
    common = {"model.unit": ["nau", "nmu"], "model.hidden": [2], "task.mode": "static", "train.precondition": True}
    seeds = [100 + i for i in range(count)]
    together = run_steps(tiny_config("mul", **common, **{"train.seeds": seeds, "train.restarts": 1}), 25)
    for position in sorted({0, count // 2, count - 1}):
        alone = run_steps(tiny_config("mul", **common, **{"train.seeds": [seeds[position]], "train.restarts": 1}), 25)
        assert_member_equals_alone(together, alone, position)


@pytest.mark.parametrize(("unit", "fused"), [(["nau", "nmu"], True), (["nac_add", "nac_add"], True), ("nalu", False)])
def test_static_targets_come_from_the_first_layers_product_when_it_is_linear(unit: object, fused: bool) -> None:
    """The static task's subset sums are computed in the first layer's product when that layer is linear (the
    batch read once); the targets equal the task's own to rounding, and the step trains on them."""
    cfg = tiny_config("mul", **{"model.unit": unit, "model.hidden": [2], "task.mode": "static", "train.seeds": [0, 1]})
    trainer = Trainer(cfg, torch.device("cpu"))
    x, y = trainer.draw_batch()
    assert (y is None) is fused
    pred, target = trainer.predict(x, y)
    torch.testing.assert_close(target, trainer.task.target(x, trainer.masks), rtol=1e-6, atol=0)
    torch.testing.assert_close(pred, trainer.model(x), rtol=1e-5, atol=1e-6)
    before = [p.detach().clone() for p in trainer.params]
    trainer.train_step()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.params, strict=True))


AHEAD_CASES = [
    ("mul", {"model.unit": "nmu"}),  # pair: targets drawn ahead with the inputs
    ("div", {"model.unit": "nalu", "task.interpolation": "-6,-2;2,10"}),  # a union of ranges
    ("mul", {"model.unit": ["nau", "nmu"], "model.hidden": [2], "task.mode": "static"}),  # targets from the product
    ("add", {"model.unit": "nalu", "model.hidden": [2], "task.mode": "static"}),  # targets per step
]


@pytest.mark.parametrize(("op", "overrides"), AHEAD_CASES)
def test_drawing_ahead_trains_the_same_floats_as_a_draw_per_step(
    op: str, overrides: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small CPU draws come a block of steps at a time (here at most 7: 30 steps cross several blocks); the weights,
    moments and losses equal a trainer that draws every step on its own, also after a restore in mid-block."""
    cfg = tiny_config(op, **overrides, **{"train.seeds": [0, 3]})
    monkeypatch.setattr(train_module, "AHEAD_STEPS", 7)
    ahead = run_steps(cfg, 30)
    half = run_steps(cfg, 12)
    resumed = Trainer(cfg, torch.device("cpu"))
    resumed.restore(half.state(finished=False))
    for _ in range(18):
        resumed.train_step()
    monkeypatch.setattr(train_module, "AHEAD_NUMBERS", 0)
    per_step = run_steps(cfg, 30)
    assert 2 <= ahead._ahead_steps <= 7 and per_step._ahead_steps == 0  # both paths were taken
    for other in (per_step, resumed):
        for (name, p_a), (_, p_b) in zip(ahead.model.named_parameters(), other.model.named_parameters(), strict=True):
            assert torch.equal(p_a, p_b), name
        assert torch.equal(ahead.last_loss, other.last_loss)
        assert torch.equal(ahead.optimizer._mv, other.optimizer._mv)


def test_nan_in_one_seed_never_touches_the_others() -> None:
    """Seed 1 trains on a range that overflows float32; seeds 0 and 2 are unaffected, bit for bit."""
    cfg = tiny_config("mul", **{"train.seeds": [0, 1, 2], "train.lr": 0.05})
    reference = run_steps(cfg, 50)
    poisoned = Trainer(cfg, torch.device("cpu"))
    with torch.no_grad():
        poisoned.model.layers[0].W[1] = 1.0
    original_draw = poisoned.draw_batch

    def draw_batch() -> tuple[torch.Tensor, torch.Tensor | None]:  # poisons seed 1 at step 10
        x, y = original_draw()
        if poisoned.step == 10:
            assert y is not None
            x, y = x.clone(), y.clone()  # the drawn batch may be a view of batches drawn ahead
            x[1] = 1e30
            y[1] = x[1, :, :1] * x[1, :, 1:]
        return x, y

    poisoned.draw_batch = draw_batch  # type: ignore[method-assign]
    for _ in range(50):
        poisoned.train_step()
    assert poisoned.alive.tolist() == [True, False, True]
    assert int(poisoned.failed_step[1]) == 10
    assert all(torch.isfinite(p).all() for p in poisoned.params)  # the dead seed keeps its last finite weights
    for p_ref, p in zip(reference.params, poisoned.params, strict=True):
        assert torch.equal(p_ref[0], p[0]) and torch.equal(p_ref[2], p[2])


def test_restarts_pick_lowest_interpolation_error() -> None:
    cfg = tiny_config("mul", **{"model.unit": "nalu", "train.restarts": 4, "train.seeds": [0, 1], "train.steps": 200})
    result = train(cfg)
    assert len(result.seeds) == 2
    trainer = Trainer(cfg, torch.device("cpu"))
    assert trainer.members.count == 8
    for s in result.seeds:
        assert 0 <= s["restart"] < 4
    # the selection criterion is interpolation validation error, recomputed independently here
    full = run_steps(cfg, 200)
    valid = full.evaluate("interpolation", cfg.eval.samples).mse
    for i, s in enumerate(result.seeds):
        block = valid[i * 4 : (i + 1) * 4]
        block = torch.where(torch.isfinite(block), block, torch.full_like(block, math.inf))
        assert s["restart"] == int(torch.argmin(block))


def test_restart_zero_is_the_plain_seed() -> None:
    plain = run_steps(tiny_config("mul", **{"train.seeds": [3]}), 2)
    with_restarts = run_steps(tiny_config("mul", **{"train.seeds": [3], "train.restarts": 3}), 2)
    assert torch.equal(plain.params[0][0], with_restarts.params[0][0])
    assert not torch.equal(with_restarts.params[0][0], with_restarts.params[0][1])


@pytest.mark.parametrize("op", ["mul", "add", "sub", "div", "square", "sqrt", "identity"])
def test_default_config_solves_at_least_9_of_seeds_0_to_9(op: str) -> None:
    """The README's promise: `nalu train --op OP` with defaults extrapolates for ≥ 9 of seeds 0-9."""
    cfg = config_resolve.resolve(overrides={"task.op": op, "train.seeds": list(range(10))})
    result = train(cfg)
    assert result.solved_count >= 9, [s["extrapolation"] for s in result.seeds]


def test_mlp_baseline_fails_to_extrapolate() -> None:
    """Trask et al.'s Figure 1: an MLP fits the training range but not beyond it."""
    cfg = tiny_config(
        "identity",
        **{
            "model.unit": "mlp",
            "model.hidden": [8],
            "model.activation": "relu6",
            "train.steps": 800,
            "task.interpolation": "-5,5",
            "task.extrapolation": "20,50",
        },
    )
    result = train(cfg)
    s = result.seeds[0]
    assert s["interpolation"]["mse"] < 1.0
    assert s["extrapolation"]["mse"] > 100 * s["interpolation"]["mse"]
    assert not s["solved"]


def test_stagnating_seeds_are_reinitialised_independently() -> None:
    """iNALU-style re-initialisation: a stagnating seed gets fresh weights; the decision uses only its own
    interpolation error, so batched and alone still agree bit for bit."""
    common = {
        "model.unit": "inalu",
        "train.clip_grad": 1.0,
        "train.log_every": 20,
        "train.steps": 200,
        "train.reinit.patience": 1,
        "train.reinit.threshold": 0.0,
        "train.reinit.min_improvement": 0.99,
    }

    def run(seeds: list[int]) -> Trainer:
        t = Trainer(tiny_config("mul", **common, **{"train.seeds": seeds}), torch.device("cpu"))
        while t.step < 100:
            t.train_step()
            if t.step % 20 == 0:
                t.monitor()
        return t

    together, alone = run([5, 2]), run([2])
    assert int(together.generation[1]) > 0  # it was re-initialised at least once
    assert torch.equal(together.generation[1], alone.generation[0])
    for p_all, p_one in zip(together.params, alone.params, strict=True):
        assert torch.equal(p_all[1], p_one[0])


def test_preconditioner_changes_only_the_first_nau_layer_update() -> None:
    """``train.precondition`` multiplies the first NAU layer's gradient by P; with it off, P is never built."""
    common = {"model.unit": ["nau", "nmu"], "model.hidden": [2], "task.mode": "static", "train.seeds": [0]}
    plain = Trainer(tiny_config("mul", **common, **{"train.precondition": False}), torch.device("cpu"))
    whitened = Trainer(tiny_config("mul", **common, **{"train.precondition": True}), torch.device("cpu"))
    assert plain.precond is None
    assert whitened.precond is not None and whitened.params[whitened.precond.index] is whitened.model.units[0].W
    plain.train_step()
    whitened.train_step()
    first, second = (dict(t.model.named_parameters()) for t in (plain, whitened))
    names = list(first)
    assert not torch.equal(first[names[0]], second[names[0]])  # the NAU layer moved differently
    assert torch.equal(first[names[1]], second[names[1]])  # the NMU layer's first step did not depend on P


@pytest.mark.parametrize("damping", [0.3, 3.0])
@pytest.mark.parametrize("ranges", [((1.0, 2.0),), ((-3.0, -1.0), (0.5, 2.0)), ((0.0, 0.1),)])
def test_preconditioner_is_the_closed_form_of_the_inputs_second_moments(ranges: tuple, damping: float) -> None:
    """P = (E[x x^T] / s + δ I)^-1 with a unit diagonal, estimated from 400,000 drawn inputs, equals the closed
    form α I + β 1 1^T the trainer applies; and applying it equals multiplying by that matrix."""
    from nalu_cli.tasks.registry import make_task
    from nalu_cli.training.precondition import Preconditioner

    inputs = 10
    task = make_task("add", "static", inputs, 0.25, 0.5, list(ranges), list(ranges))
    x = task.sample_inputs(torch.arange(100), rng.STREAM_PROBE, 0, 4000, task.interpolation, torch.float64)
    x = x.reshape(-1, inputs)  # [N, I]
    sigma = x.T @ x / x.shape[0]  # [I, I]
    estimate = torch.linalg.inv(sigma / sigma.diagonal().mean() + damping * torch.eye(inputs, dtype=torch.float64))
    estimate = estimate / estimate.diagonal().mean()
    closed = Preconditioner.for_inputs(0, task.interpolation, inputs, damping)
    assert torch.allclose(closed.matrix(inputs), estimate, atol=0.005), (closed, estimate)  # sampling error ~0.003
    assert closed.alpha + closed.beta == pytest.approx(1.0)  # a unit diagonal
    grad = torch.randn(3, 2, inputs, dtype=torch.float64)
    assert torch.allclose(closed.apply(grad), grad @ closed.matrix(inputs), rtol=0, atol=1e-12)


def test_results_read_every_seeds_formula_with_one_forward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading S seeds' formulas runs the batched model on the probe once, not once per seed (O(S), not O(S²)):
    before this, `--seeds 1000` spent minutes in the final report."""
    from nalu_cli.models.arithmetic import ArithmeticModel

    cfg = tiny_config("add", **{"model.unit": "nalu", "train.seeds": [0, 1, 2, 3], "model.hidden": []})
    trainer = run_steps(cfg, 5)
    calls = []
    original = ArithmeticModel.forward_with_inputs

    def counted(self: ArithmeticModel, x: torch.Tensor) -> list[torch.Tensor]:
        calls.append(x.shape)
        return original(self, x)

    monkeypatch.setattr(ArithmeticModel, "forward_with_inputs", counted)
    results = trainer.results(64)
    assert len(results) == 4 and all("formula" in r for r in results)
    assert len(calls) == 1  # the gated NALU needs its layer inputs: read once for every seed


def test_monitoring_reuses_the_threshold_and_it_equals_a_fresh_one() -> None:
    """The near-perfect threshold depends on the evaluation data alone: computed once per range and sample
    count, and equal, bit for bit, to one computed afresh after training moved the weights."""
    from nalu_cli.training.evaluate import evaluate_range

    trainer = run_steps(tiny_config("mul", **{"train.seeds": [0, 1]}), 3)
    first = trainer.evaluate("extrapolation", 256)
    trainer.train_step()
    cached = trainer.evaluate("extrapolation", 256)
    fresh = evaluate_range(
        trainer.model,
        trainer.task,
        trainer.task_seeds,
        trainer.task.extrapolation,
        256,
        trainer.config.eval.solved_eps,
        rng.STREAM_TEST,
        trainer.dtype,
    )
    assert torch.equal(cached.threshold, fresh.threshold) and torch.equal(first.threshold, fresh.threshold)
    assert torch.equal(cached.mse, fresh.mse)
    other = trainer.evaluate("extrapolation", 128)  # another size: its own threshold, not the cached one
    assert not torch.equal(other.threshold, cached.threshold)
    assert torch.equal(
        trainer.evaluate("interpolation", 128).threshold, trainer.evaluate("interpolation", 128).threshold
    )
