"""``nalu fit``: learn a formula from a table, and show what extrapolates and what does not. Never prints.

The rows are split three ways, none shared: held-out rows (``--test`` or, by default, the ``holdout``
fraction with the largest input magnitudes) that measure extrapolation and never train or select;
of the rest, 80% train and 20% validate (interpolation). A small ladder of candidate stacks, simplest
first, is trained with seeds × restarts batched as one model; each candidate keeps its best member by
validation error, and the chosen candidate is the simplest whose validation error is within
``EQUAL_ERROR`` of the best. Its formula is read from the weights (named after the columns), evaluated
exactly on every split, and shown beside two baselines fitted on the same training rows: least-squares
linear regression and a small MLP.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nalu_cli import rng
from nalu_cli.config.recipes import derived_recipe
from nalu_cli.fit.noise import explains_nothing
from nalu_cli.fit.table import Table
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import read_formula
from nalu_cli.tasks.expressions import readout_expression
from nalu_cli.training.optim import BatchedAdam
from nalu_cli.training.schedule import cosine
from nalu_cli.units.base import UnitOptions

EQUAL_ERROR = 1.25  # validation MSEs within this factor of the best count as equal; the simpler one wins
POSITIVE_UNITS = ("nac_mul", "nalu", "inalu")  # units that take log |x|: inputs must be positive
BATCH = 128  # minibatch rows for tables larger than FULL_BATCH
FULL_BATCH = 1024  # up to this many training rows, every step sees them all
EXACT = 1e-7  # relative RMS error on validation rows that counts as an exact fit (float64 training)
CHECK_EVERY = 25  # steps between validation checks for stopping early
PLATEAU = 0.98  # an improvement of the best validation MSE by less than 2% does not count ...
PATIENCE = 25  # ... and this many steps without one is a plateau
REG_BY = 150  # the regulariser starts by this step at the latest (or a third of the steps)
MAX_STEPS = 1000  # without --steps, a candidate stops after this many steps at the latest
RETRY_PATIENCE = 200  # the second pass's patience (run only when the first finds no exact or noise-level formula)
RAMP = 50  # steps over which the sparsity regulariser is ramped in once it starts
PROBE = 256  # training rows that feed gates for the formula readout
NOISE_ROWS = 20_000  # kept rows the residual test sees at most (a fixed sample of a larger table)


@dataclass(frozen=True)
class Candidate:
    units: list[str]
    hidden: list[int]

    @property
    def label(self) -> str:
        widths = f" [{','.join(map(str, self.hidden))}]" if self.hidden else ""
        return "→".join(self.units) + widths


def ladder(n_inputs: int, positive: bool) -> list[Candidate]:
    """Candidate stacks, simplest first: sums, products, ratios, then two-layer compositions of them."""
    wide = min(3, max(2, n_inputs))
    out = [Candidate(["nau"], []), Candidate(["nmu"], [])]
    if positive:
        out.append(Candidate(["nac_mul"], []))
    out += [Candidate(["nmu", "nau"], [2]), Candidate(["nau", "nmu"], [2])]
    if positive:
        out += [Candidate(["nac_mul", "nau"], [2]), Candidate(["nau", "nac_mul"], [2])]
    out.append(Candidate(["nmu", "nau"], [wide]))
    if positive and wide > 2:
        out.append(Candidate(["nac_mul", "nau"], [wide]))
    return list({c.label: c for c in out}.values())


def _rel(err: float, y: np.ndarray) -> float:
    """Root-mean-square error relative to the target's RMS (0: perfect, 1: as bad as predicting 0)."""
    scale = float(np.sqrt(np.mean(y**2))) or 1.0
    return math.sqrt(err) / scale if math.isfinite(err) else math.inf


def _mse(pred: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        value = float(np.mean((pred - y) ** 2))
    return value if math.isfinite(value) else math.inf


def rename(formula: str, names: list[str]) -> str:
    """``y = x0 * x1`` -> ``total = price * qty`` (longest indices first, so x10 is not read as x1)."""
    return re.sub(r"\bx(\d+)\b", lambda m: names[int(m.group(1))], formula)


@dataclass
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: Table
    x_train: np.ndarray
    y_train: np.ndarray


@dataclass
class Trained:
    """A trained candidate: the model, its best member by validation MSE, every member's validation MSE,
    the steps taken and why training stopped (``exact``, ``noise``, ``plateau`` or ``steps``)."""

    model: ArithmeticModel
    best: int
    valid: np.ndarray
    steps: int
    stop: str


def batch_rows(seed: int, step: int, n: int, size: int) -> torch.Tensor:
    """The training rows of minibatch ``step``: [size] int64 indices in [0, n), drawn with replacement from the
    counter-based generator (stream ``STREAM_ROWS``), so a pure function of (seed, step, n, size) on any
    machine. A 32-bit draw k becomes the row floor(k * n / 2**32), exact in int64 for n < 2**31; its bias
    (at most n / 2**32 in any row's probability) is negligible at table sizes."""
    bits = rng.random_bits(rng.seed_tensor([seed]), rng.STREAM_ROWS, step, size)[0]  # [size] int32
    return ((bits.to(torch.int64) & 0xFFFFFFFF) * n) >> 32  # [size]


def warm_start(model: ArithmeticModel, unit: str, x: np.ndarray, y: np.ndarray) -> bool:
    """Start member 0 of a one-layer candidate from the layer's closed-form least-squares fit.

    NAU: least squares of y on x, clipped to [-1, 1]. NMU and NAC• on positive inputs and targets: least
    squares of log y on log x (a product of powers), clipped to the unit's range ([0, 1] for the NMU; for
    NAC• W = tanh(Ŵ)σ(M̂) with M̂ = 6 and |W| < 0.995). The other members keep their random initialisation,
    and every member is then trained as usual. Returns whether member 0 was warm-started.
    """
    layer: Any = model.layers[0]  # the unit named by ``unit`` (NAU, NMU or NAC•)
    with torch.no_grad():
        if unit == "nau":
            w, *_ = np.linalg.lstsq(x, y, rcond=None)
            layer.W[0, 0] = torch.from_numpy(np.clip(w, -1.0, 1.0))
            return True
        if unit in ("nmu", "nac_mul") and np.all(x > 0) and np.all(y > 0):
            a, *_ = np.linalg.lstsq(np.log(x), np.log(y), rcond=None)
            if unit == "nmu":
                layer.W[0, 0] = torch.from_numpy(np.clip(a, 0.0, 1.0))
            else:
                gate = 6.0
                target = np.clip(a / (1.0 / (1.0 + math.exp(-gate))), -0.995, 0.995)
                layer.M_hat[0, 0] = gate
                layer.W_hat[0, 0] = torch.from_numpy(np.arctanh(target))
            return True
    return False


def warm_start_top(model: ArithmeticModel, x: np.ndarray, y: np.ndarray) -> None:
    """A stack ending in an NAU: each member's output NAU starts from least squares of y on that member's
    hidden outputs (its randomly initialised lower layers), clipped to [-1, 1]; then all layers train."""
    members = next(model.parameters()).shape[0]
    with torch.no_grad():
        h = torch.from_numpy(x)[None].expand(members, -1, -1)  # [M, N, I]
        for layer in model.layers[:-1]:
            h = layer(h)  # [M, N, H]
        top: Any = model.layers[-1]  # an NAU
        for m in range(members):
            hm = h[m].numpy()
            if not np.all(np.isfinite(hm)):
                continue
            w, *_ = np.linalg.lstsq(hm, y, rcond=None)
            top.W[m, 0] = torch.from_numpy(np.clip(w, -1.0, 1.0))


def train_candidate(
    cand: Candidate,
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    members: int,
    steps: int | None,
    seed: int,
    yardstick: float | None = None,
    patience: int = PATIENCE,
    max_steps: int | None = MAX_STEPS,
) -> Trained:
    """Train ``members`` copies of ``cand`` on (x, y) batched, full batch up to ``FULL_BATCH`` rows.

    Every ``CHECK_EVERY`` steps the best member by validation MSE is checked; training stops when its
    formula reproduces the validation rows exactly (``exact``), when its formula fits them as well as its
    weights do and leaves residuals that are only noise (``noise``, see ``nalu_cli.fit.noise``), or when the
    best validation MSE has not improved by ``PLATEAU`` for ``PATIENCE`` steps (``plateau``). For stacks
    with a sparsity regulariser the regulariser is switched on (ramped over ``RAMP`` steps) at the first
    plateau or after a third of the steps, whichever comes first, and only a plateau after that ends the run.
    With a ``yardstick`` (the MLP baseline's validation MSE) the regulariser starts only once the best
    member's weights interpolate at least as well as the MLP does: a stack that interpolates worse than an
    MLP does not hold the formula, and it stops at its first plateau without the regularised phase.
    """
    recipe = derived_recipe(list(cand.units))
    total = steps or int(recipe["steps"])
    reg_scale = float(recipe.get("regularizer", {}).get("scale", 0.0))
    lr, schedule = float(recipe["lr"]), recipe.get("schedule", "cosine")
    seeds = rng.seed_tensor([seed * 1000 + m for m in range(members)])
    model = ArithmeticModel(seeds, x.shape[1], list(cand.units), list(cand.hidden), UnitOptions()).to(torch.float64)
    if len(cand.units) == 1:
        warm_start(model, cand.units[0], x, y)
    elif cand.units[-1] == "nau":
        warm_start_top(model, x, y)
    params = list(model.parameters())
    opt = BatchedAdam(params, betas=(0.9, float(recipe.get("beta2", 0.999))))
    n = x.shape[0]
    full = n <= FULL_BATCH
    xt = torch.from_numpy(x)[None].expand(members, -1, -1)  # [M, N, I]
    yt = torch.from_numpy(y)[None, :, None].expand(members, -1, -1)  # [M, N, 1]
    xv_t = torch.from_numpy(xv)[None].expand(members, -1, -1)  # [M, Nv, I]
    x_all, y_all = np.vstack([x, xv]), np.concatenate([y, yv])
    if len(y_all) > NOISE_ROWS:  # a large table: the residual test on a fixed sample of the kept rows
        keep = np.sort(np.random.default_rng(seed).choice(len(y_all), NOISE_ROWS, replace=False))
        x_all, y_all = x_all[keep], y_all[keep]
    probe = torch.from_numpy(x[:PROBE])[None].expand(members, -1, -1)  # [M, P, I]
    scale = float(np.mean(y**2)) or 1.0
    alive = torch.ones(members, dtype=torch.bool)
    reg_start = None if reg_scale > 0 else 0
    best_seen, improved_at = math.inf, 0
    stop, step = "steps", 0
    for step in range(total):
        if full:
            xb, yb = xt, yt
        else:
            idx = batch_rows(seed, step, n, BATCH)  # [B]
            xb, yb = xt[:, idx], yt[:, idx]  # [M, B, I], [M, B, 1]
        loss = ((model(xb) - yb) ** 2).mean(dim=(1, 2)) / scale  # [M]
        if reg_start is not None and reg_scale > 0:
            ramp = min(1.0, (step - reg_start + 1) / RAMP)
            loss = loss + reg_scale * ramp * model.regularizer()
        loss = torch.where(alive & torch.isfinite(loss), loss, torch.zeros_like(loss))
        grads = list(torch.autograd.grad(loss.sum(), params, allow_unused=False))
        rate = lr if schedule == "constant" else cosine(lr, step, total)
        alive = opt.step_fused(grads, rate) & alive
        model.post_step()
        if (step + 1) % CHECK_EVERY:
            continue
        valid = _valid_mse_t(model, xv_t, yv, alive)
        best = int(np.argmin(valid))
        verdict = _formula_verdict(model, best, float(valid[best]), probe, xv, yv, x_all, y_all)
        if verdict is not None:
            stop = verdict
            break
        if valid[best] < best_seen * PLATEAU:
            best_seen, improved_at = float(valid[best]), step
        plateau = step - improved_at >= patience
        due = plateau or step + 1 >= min(total // 3, REG_BY)
        if reg_start is None and due and (yardstick is None or valid[best] <= yardstick):
            reg_start, improved_at = step + 1, step + RAMP  # regularise now; patience counts after the ramp
            continue
        if plateau or (steps is None and max_steps is not None and step + 1 >= max_steps):
            stop = "plateau" if plateau else "steps"
            break
    valid = _valid_mse_t(model, xv_t, yv, alive)
    return Trained(model, int(np.argmin(valid)), valid, step + 1, stop)


def _formula_verdict(
    model: ArithmeticModel,
    member: int,
    model_mse: float,
    probe: torch.Tensor,
    xv: np.ndarray,
    yv: np.ndarray,
    x_all: np.ndarray,
    y_all: np.ndarray,
) -> str | None:
    """``exact`` when ``member``'s formula reproduces the validation rows exactly; ``noise`` when, on every
    kept row (training and validation), it fits as well as the member's weights do (within ``EQUAL_ERROR``)
    and leaves residuals that are only noise (``_only_noise``); else None. (Every kept row, not only the validation rows:
    on a few dozen noisy rows a continuous fit beats the true formula by more than 1.25× by chance.)"""
    if not math.isfinite(model_mse):
        return None
    formula = read_formula(model, member, probe).formula
    pred = _formula_eval(formula, xv)
    if pred is None:
        return None
    if _rel(_mse(pred, yv), yv) < EXACT:
        return "exact"
    pred_all = _formula_eval(formula, x_all)
    if pred_all is None:
        return None
    mse_all = _mse(pred_all, y_all)
    model_all = _mse(_predict(model, member, x_all), y_all)
    if mse_all <= model_all * EQUAL_ERROR and _only_noise(y_all - pred_all, pred_all, x_all):
        return "noise"
    return None


def _only_noise(residual: np.ndarray, pred: np.ndarray, x: np.ndarray) -> bool:
    """Residuals that are noise as they are (additive noise) or relative to the formula's value
    (multiplicative noise: a ratio's residuals grow a hundredfold with its value, and the library would
    fit the few largest) when the formula's value has one sign on every row."""
    if explains_nothing(residual, x):
        return True
    # Relative residuals only where the formula keeps one sign: a value that crosses 0 (a * b on inputs of
    # both signs) makes them huge near the crossing, and a few such rows would hide any missing term.
    if not (np.all(pred > 0) or np.all(pred < 0)):
        return False
    with np.errstate(all="ignore"):
        relative = residual / np.abs(pred)
    return bool(np.all(np.isfinite(relative))) and explains_nothing(relative, x)


def _valid_mse_t(model: ArithmeticModel, xv_t: torch.Tensor, yv: np.ndarray, alive: torch.Tensor) -> np.ndarray:
    """Validation MSE per member [M] from validation inputs already batched [M, Nv, I]."""
    with torch.no_grad():
        pv = model(xv_t)[..., 0].numpy()  # [M, Nv]
    with np.errstate(all="ignore"):
        mse = np.mean((pv - yv[None]) ** 2, axis=1)  # [M]
    return np.where(alive.numpy() & np.isfinite(mse), mse, math.inf)


def _valid_mse(model: ArithmeticModel, xv: np.ndarray, yv: np.ndarray, alive: torch.Tensor) -> np.ndarray:
    """Validation MSE per member [M] (inf for a diverged member)."""
    members = alive.shape[0]
    with torch.no_grad():
        pv = model(torch.from_numpy(xv)[None].expand(members, -1, -1))[..., 0].numpy()  # [M, Nv]
    return np.array([_mse(pv[m], yv) if bool(alive[m]) else math.inf for m in range(members)])


def _predict(model: ArithmeticModel, member: int, x: np.ndarray) -> np.ndarray:
    members = next(model.parameters()).shape[0]
    with torch.no_grad():
        return model(torch.from_numpy(x)[None].expand(members, -1, -1))[member, :, 0].numpy()


def _formula_eval(formula: str | None, x: np.ndarray) -> np.ndarray | None:
    expression = readout_expression(formula) if formula else None
    if expression is None or expression.n_inputs > x.shape[1]:
        return None
    with np.errstate(all="ignore"), torch.no_grad():
        return expression.evaluate(torch.from_numpy(x))[:, 0].numpy()
