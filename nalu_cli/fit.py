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

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nalu_cli import rng
from nalu_cli.checkpoint import load_checkpoint, save_checkpoint
from nalu_cli.derive import Stack, derived_recipe
from nalu_cli.errors import CheckpointError, ConfigError, NaluError
from nalu_cli.expr import readout_expression
from nalu_cli.files import atomic_write_bytes
from nalu_cli.formula import read_formula
from nalu_cli.models import ArithmeticModel
from nalu_cli.noise import explains_nothing
from nalu_cli.optim import finite, flatten_
from nalu_cli.table import Table, holdout_split, load_table
from nalu_cli.units import UnitOptions

FIT_JSON = "fit.json"
FIT_WEIGHTS = "fit.pt"
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
MLP_STEPS, MLP_LR = 300, 0.03  # the MLP baseline's full-batch Adam steps and peak learning rate


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


class FlatAdam:
    """Adam over parameters batched on their first (member) dimension, kept in one flat buffer [M, P].

    The plain update in six in-place operations: ``nalu fit``'s steps are so small that the optimiser's
    per-operation overhead is a good part of a step. Members never mix (every operation is elementwise);
    ``step`` returns which members still have finite weights (a member that went non-finite is dead and
    its loss is masked to 0 from then on).
    """

    def __init__(self, params: Sequence[torch.Tensor], beta2: float = 0.999, beta1: float = 0.9, eps: float = 1e-8):
        self.flat = flatten_(params)  # [M, P]; the parameters become views of it
        self.m = torch.zeros_like(self.flat)  # [M, P]
        self.v = torch.zeros_like(self.flat)  # [M, P]
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: float) -> torch.Tensor:
        self.t += 1
        m_rows = self.flat.shape[0]
        g = torch.cat([gr.reshape(m_rows, -1) for gr in grads], dim=1)  # [M, P]
        self.m.mul_(self.beta1).add_(g, alpha=1.0 - self.beta1)
        self.v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
        step = lr / (1.0 - self.beta1**self.t)
        denom = (self.v / (1.0 - self.beta2**self.t)).sqrt_().add_(self.eps)  # [M, P]
        self.flat.addcdiv_(self.m, denom, value=-step)
        return finite(self.flat).all(dim=1)  # [M]


@dataclass
class Trained:
    """A trained candidate: the model, its best member by validation MSE, every member's validation MSE,
    the steps taken and why training stopped (``exact``, ``noise``, ``plateau`` or ``steps``)."""

    model: ArithmeticModel
    best: int
    valid: np.ndarray
    steps: int
    stop: str


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
    weights do and leaves residuals that are only noise (``noise``, see ``nalu_cli.noise``), or when the
    best validation MSE has not improved by ``PLATEAU`` for ``PATIENCE`` steps (``plateau``). For stacks
    with a sparsity regulariser the regulariser is switched on (ramped over ``RAMP`` steps) at the first
    plateau or after a third of the steps, whichever comes first, and only a plateau after that ends the run.
    With a ``yardstick`` (the MLP baseline's validation MSE) the regulariser starts only once the best
    member's weights interpolate at least as well as the MLP does: a stack that interpolates worse than an
    MLP does not hold the formula, and it stops at its first plateau without the regularised phase.
    """
    recipe = derived_recipe(Stack(cand.units, cand.hidden, cand.label))
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
    opt = FlatAdam(params, beta2=float(recipe.get("beta2", 0.999)))
    n = x.shape[0]
    full = n <= FULL_BATCH
    xt = torch.from_numpy(x)[None].expand(members, -1, -1)  # [M, N, I]
    yt = torch.from_numpy(y)[None, :, None].expand(members, -1, -1)  # [M, N, 1]
    xv_t = torch.from_numpy(xv)[None].expand(members, -1, -1)  # [M, Nv, I]
    x_all, y_all = np.vstack([x, xv]), np.concatenate([y, yv])
    probe = torch.from_numpy(x[:PROBE])[None].expand(members, -1, -1)  # [M, P, I]
    scale = float(np.mean(y**2)) or 1.0
    gen = torch.Generator().manual_seed(seed)
    alive = torch.ones(members, dtype=torch.bool)
    reg_start = None if reg_scale > 0 else 0
    best_seen, improved_at = math.inf, 0
    stop, step = "steps", 0
    for step in range(total):
        if full:
            xb, yb = xt, yt
        else:
            idx = torch.randint(0, n, (BATCH,), generator=gen)
            xb, yb = xt[:, idx], yt[:, idx]  # [M, B, I], [M, B, 1]
        loss = ((model(xb) - yb) ** 2).mean(dim=(1, 2)) / scale  # [M]
        if reg_start is not None and reg_scale > 0:
            ramp = min(1.0, (step - reg_start + 1) / RAMP)
            loss = loss + reg_scale * ramp * model.regularizer()
        loss = torch.where(alive & torch.isfinite(loss), loss, torch.zeros_like(loss))
        grads = list(torch.autograd.grad(loss.sum(), params, allow_unused=False))
        rate = lr if schedule == "constant" else lr * 0.5 * (1 + math.cos(math.pi * step / total))
        alive = opt.step(grads, rate) & alive
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
    fit the few largest)."""
    if explains_nothing(residual, x):
        return True
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


def linear_baseline(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients [I + 1] (the last is the intercept)."""
    a = np.hstack([x, np.ones((x.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return np.asarray(coef)


def _linear_text(target: str, names: list[str], coef: np.ndarray) -> str:
    """``y = 2.1 * a - 0.3 * b + 4`` (4 significant digits)."""
    text = ""
    for c, name in [*zip(coef[:-1], names, strict=True), (coef[-1], "")]:
        term = f"{abs(c):.4g}" + (f" * {name}" if name else "")
        text += (f"-{term}" if c < 0 else term) if not text else (f" - {term}" if c < 0 else f" + {term}")
    return f"{target} = {text}"


def linear_predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(x @ coef[:-1] + coef[-1])


def mlp_baseline(x: np.ndarray, y: np.ndarray, seed: int, steps: int = MLP_STEPS) -> Any:
    """A small MLP (I → 32 → 32 → 1, ReLU) on standardised inputs and target; returns a predict function.

    Trained full batch with Adam (peak lr ``MLP_LR``, cosine decay) for ``steps`` steps, written out in numpy: at this
    size each step is a few microseconds of arithmetic, which PyTorch's per-operation overhead would
    multiply several times. Initialised like ``torch.nn.Linear`` (U(±1/√fan_in) for weights and biases).
    """
    rs = np.random.default_rng(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-12
    ym, ys = float(y.mean()), float(y.std()) or 1.0
    xs = (x - mu) / sd  # [N, I]
    ys_t = ((y - ym) / ys)[:, None]  # [N, 1]
    sizes = [x.shape[1], 32, 32, 1]
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        params += [rs.uniform(-bound, bound, (fan_in, fan_out)), rs.uniform(-bound, bound, fan_out)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    n = xs.shape[0]
    for t in range(1, steps + 1):
        w1, b1, w2, b2, w3, b3 = params
        z1 = xs @ w1 + b1  # [N, 32]
        h1 = np.maximum(z1, 0.0)
        z2 = h1 @ w2 + b2  # [N, 32]
        h2 = np.maximum(z2, 0.0)
        g = 2.0 * (h2 @ w3 + b3 - ys_t) / n  # [N, 1]: d(mean squared error)/d(output)
        g2 = (g @ w3.T) * (z2 > 0)  # [N, 32]
        g1 = (g2 @ w2.T) * (z1 > 0)  # [N, 32]
        grads = [xs.T @ g1, g1.sum(0), h1.T @ g2, g2.sum(0), h2.T @ g, g.sum(0)]
        lr = MLP_LR * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        c1, c2 = 1.0 - 0.9**t, 1.0 - 0.999**t
        for p, gr, a, b in zip(params, grads, m1, m2, strict=True):
            a *= 0.9
            a += 0.1 * gr
            b *= 0.999
            b += 0.001 * gr * gr
            p -= lr * (a / c1) / (np.sqrt(b / c2) + 1e-8)

    def predict(xn: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2, w3, b3 = params
        h = np.maximum(np.maximum(((xn - mu) / sd) @ w1 + b1, 0.0) @ w2 + b2, 0.0)  # [N, 32]
        return np.asarray((h @ w3 + b3)[:, 0] * ys + ym)

    return predict


def _err(pred: np.ndarray | None, y: np.ndarray) -> dict[str, float] | None:
    """MSE and relative error of ``pred`` against ``y`` (None when there is no prediction)."""
    if pred is None:
        return None
    mse = _mse(pred, y)
    return {"mse": mse, "rel_err": _rel(mse, y)}


def fit(
    data: str | Path,
    target: str,
    *,
    inputs: list[str] | None = None,
    test: str | Path | None = None,
    holdout: float = 0.2,
    units: list[str] | None = None,
    hidden: list[int] | None = None,
    members: int = 8,
    steps: int | None = None,
    seed: int = 0,
    out: Path | None = None,
) -> dict[str, Any]:
    """Fit ``target`` from the other columns of ``data``; returns the report (and writes ``out`` if given)."""
    started = time.perf_counter()
    table = load_table(data, target, inputs)
    warnings = list(table.warnings)
    if test is not None:
        held = load_table(test, target, like=table)
        kept_table = table
    else:
        kept, out_rows = holdout_split(table, holdout)
        held, kept_table = table.select(out_rows), table.select(kept)
    positive = bool(np.all(kept_table.x > 0) and np.all(held.x > 0))
    if units is not None:
        cands = [
            Candidate(units if len(units) == len(hidden or []) + 1 else units * (len(hidden or []) + 1), hidden or [])
        ]
        if any(u in POSITIVE_UNITS for u in cands[0].units) and not positive:
            col, row = _first_non_positive(kept_table, held)
            raise ConfigError(
                f"unit {'/'.join(u for u in cands[0].units if u in POSITIVE_UNITS)} needs positive inputs, but column {col!r} is {row}"
            )
    else:
        cands = ladder(len(table.inputs), positive)
        if not positive:
            warnings.append("some inputs are 0 or negative: ratio stacks (NAC•, which take log |x|) are not tried")
    rs = np.random.default_rng(seed)
    order = rs.permutation(len(kept_table.y))
    n_valid = max(1, len(order) // 5)
    tr, va = np.sort(order[n_valid:]), np.sort(order[:n_valid])
    x_tr, y_tr = kept_table.x[tr], kept_table.y[tr]
    x_va, y_va = kept_table.x[va], kept_table.y[va]
    splits = {"train": (x_tr, y_tr), "valid": (x_va, y_va), "heldout": (held.x, held.y)}
    names = table.inputs
    coef = linear_baseline(x_tr, y_tr)
    mlp = mlp_baseline(x_tr, y_tr, seed)
    yardstick = _mse(mlp(x_va), y_va) if units is None else None
    entries: list[tuple[int, int, dict[str, Any], ArithmeticModel, int, float]] = []
    # Pass 1 is quick (stop at the first plateau); only when no candidate reaches an exact or noise-level
    # formula does pass 2 train every candidate again with new members and RETRY_PATIENCE.
    passes: list[tuple[int, int, int | None]] = [(seed, PATIENCE, MAX_STEPS)]
    if steps is None:
        passes.append((seed + 1, RETRY_PATIENCE, None))
    for round_, (member_seed, patience, cap) in enumerate(passes):
        if round_ and any(e[2]["stop"] in ("exact", "noise") for e in entries):
            break
        if round_:
            warnings.append(
                "no candidate reached an exact or noise-level formula on the quick pass; every candidate was"
                f" trained again with new members and a patience of {RETRY_PATIENCE} steps"
            )
        for index, cand in enumerate(cands):
            t0 = time.perf_counter()
            trained = train_candidate(
                cand, x_tr, y_tr, x_va, y_va, members, steps, member_seed, yardstick, patience, cap
            )
            model, best, valid = trained.model, trained.best, trained.valid
            readout = read_formula(model, best, torch.from_numpy(x_tr)[None].expand(valid.shape[0], -1, -1))
            model_err = {k: _err(_predict(model, best, x), y) for k, (x, y) in splits.items()}
            formula_err = {k: _err(_formula_eval(readout.formula, x), y) for k, (x, y) in splits.items()}
            formula = readout.formula
            entry = {
                "stack": cand.label + (" (retry)" if round_ else ""),
                "units": cand.units,
                "hidden": cand.hidden,
                "formula": rename(formula, names).replace("y =", f"{target} =", 1) if formula else None,
                "formula_x": formula,
                "reason": readout.reason,
                "deviation": readout.deviation if readout.discrete else None,
                "model": model_err,
                "formula_errors": formula_err,
                "members_valid_mse": [float(v) for v in valid],
                "steps": trained.steps,
                "stop": trained.stop,
                "seconds": time.perf_counter() - t0,
            }
            # A candidate's validation error: its formula's (evaluated exactly) or its weights', whichever is lower.
            fv = formula_err["valid"]
            score = min(float(valid[best]), fv["mse"] if fv is not None else math.inf)
            entries.append((index, round_, entry, model, best, score))
            if trained.stop in ("exact", "noise") and units is None:
                skipped = [c.label for c in cands[index + 1 :]]
                if skipped:
                    found = (
                        "an exact formula" if trained.stop == "exact" else "a formula whose residuals are only noise"
                    )
                    verb = "were not tried again" if round_ else "were not tried"
                    warnings.append(f"{found} was found; the larger candidates ({', '.join(skipped)}) {verb}")
                break
    entries.sort(key=lambda e: (e[0], e[1]))  # simplest first; a retry right after its first attempt
    results = [e[2] for e in entries]
    models = [(e[3], e[4]) for e in entries]
    valid_mse = [e[5] for e in entries]
    finite = [v for v in valid_mse if math.isfinite(v)]
    if not finite:
        raise NaluError("every candidate diverged (NaN/Inf); check the table's scale")
    best_valid = min(finite)
    chosen = next(i for i, v in enumerate(valid_mse) if v <= best_valid * EQUAL_ERROR + 1e-300)
    baselines = {
        "linear": {
            "formula": _linear_text(target, names, coef),
            **{k: _err(linear_predict(coef, x), y) for k, (x, y) in splits.items()},
        },
        "mlp": {"formula": None, **{k: _err(mlp(x), y) for k, (x, y) in splits.items()}},
    }
    report: dict[str, Any] = {
        "command": "fit",
        "data": str(data),
        "test": str(test) if test is not None else None,
        "target": target,
        "inputs": names,
        "rows": {"train": len(y_tr), "valid": len(y_va), "heldout": len(held.y)},
        "heldout": f"rows of {test}" if test is not None else f"the {holdout:g} of rows with the largest inputs",
        "candidates": results,
        "chosen": chosen,
        "formula": results[chosen]["formula"],
        "baselines": baselines,
        "warnings": warnings,
        "elapsed": time.perf_counter() - started,
        "run_dir": str(out) if out is not None else None,
    }
    if out is not None:
        model, best = models[chosen]
        _save(out, report, model, best, coef)
    return report


def _first_non_positive(*tables: Table) -> tuple[str, str]:
    for t in tables:
        bad = np.argwhere(t.x <= 0)
        if len(bad):
            r, c = bad[0]
            return t.inputs[c], f"{t.x[r, c]:g} on line {t.rows[r]} of {t.path}"
    return "?", "?"


def _save(out: Path, report: dict[str, Any], model: ArithmeticModel, best: int, coef: np.ndarray) -> None:
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NaluError(f"cannot create run directory {str(out)!r}: {err.strerror}") from None
    from nalu_cli.run import RunLock  # one writer per run directory, as for train

    lock = RunLock(out).acquire()
    try:
        _write(out, report, model, best, coef)
    finally:
        lock.release()


def _write(out: Path, report: dict[str, Any], model: ArithmeticModel, best: int, coef: np.ndarray) -> None:
    chosen = report["candidates"][report["chosen"]]
    spec = {
        "target": report["target"],
        "inputs": report["inputs"],
        "units": chosen["units"],
        "hidden": chosen["hidden"],
        "formula_x": chosen["formula_x"],
        "linear": [float(c) for c in coef],
    }
    state = {k: v.detach()[best : best + 1].clone() for k, v in model.state_dict().items()}
    save_checkpoint(
        out / FIT_WEIGHTS, {"config": spec, "model": state, "step": 0, "seeds": {"seeds": [0], "restarts": 1}}
    )
    atomic_write_bytes(out / FIT_JSON, (json.dumps(report, indent=2, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(type(value).__name__)


def eval_fit(run: str | Path, data: str | Path) -> dict[str, Any]:
    """Errors of a fitted run (its model, its formula, its linear baseline) on another table."""
    run = Path(run)
    path = run / FIT_WEIGHTS
    if not path.exists():
        raise ConfigError(f"{str(run)!r} is not a fit run (no {FIT_WEIGHTS}); --data evaluates runs made by nalu fit")
    ckpt = load_checkpoint(path)
    spec = ckpt["config"]
    try:
        model = ArithmeticModel(
            rng.seed_tensor([0]), len(spec["inputs"]), list(spec["units"]), list(spec["hidden"]), UnitOptions()
        )
        model = model.to(torch.float64)
        model.load_state_dict(ckpt["model"], strict=True)
        coef = np.asarray(spec["linear"], dtype=np.float64)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{str(path)!r} does not match its own description: {str(err).splitlines()[0]}") from None
    like = Table("", list(spec["inputs"]), spec["target"], np.zeros((0, 0)), np.zeros(0), np.zeros(0))
    table = load_table(data, spec["target"], like=like)
    formula = spec.get("formula_x")
    return {
        "command": "eval",
        "run": str(run),
        "data": str(data),
        "rows": len(table.y),
        "formula": rename(formula, list(spec["inputs"])).replace("y =", f"{spec['target']} =", 1) if formula else None,
        "model": _err(_predict(model, 0, table.x), table.y),
        "formula_errors": _err(_formula_eval(formula, table.x), table.y),
        "linear": _err(linear_predict(coef, table.x), table.y),
    }
