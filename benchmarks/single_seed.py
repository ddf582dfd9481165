"""One seed, one step: ``Trainer.train_step`` against a minimal plain-PyTorch loop, side by side in one run.

    python benchmarks/single_seed.py                 # 2-input NALU, NMU, madsen2020 (NAU -> NMU); ~1 minute
    python benchmarks/single_seed.py --steps 3000    # longer timings, steadier ratios
    python benchmarks/single_seed.py --profile nalu  # where the time of one nalu step goes (torch.profiler)

The plain loop is what one would write by hand for the same model: the same unit arithmetic without the seed
dimension, ``torch.rand`` for a fresh batch each step (the same batch size and range), MSE loss,
``torch.optim.Adam`` with the same learning rate and betas, ``zero_grad`` / ``backward`` / ``step``, and the
NAU/NMU weight clamp after each step (part of those units' definition). It has none of nalu's guarantees
(no seed batching, no counter-based data, no NaN isolation), which is the point: it is the floor that
per-step overhead is measured against. Nor does it apply madsen2020's first-layer gradient preconditioner
(``train.precondition``, part of that stack's recipe); the case ``madsen2020-noprecond`` times nalu's step
without it, like for like.

Each measurement runs in a fresh child process with one torch thread; the two sides alternate in rounds and
the median round is reported, so a machine shared with other jobs disturbs both sides alike.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from typing import Any

_MADSEN = {"task.op": "mul", "model.unit": ["nau", "nmu"]}
CASES = {
    "nalu": ("2-input NALU (mul)", {"task.op": "mul", "model.unit": "nalu"}, None),
    "nmu": ("2-input NMU (mul)", {"task.op": "mul", "model.unit": "nmu"}, None),
    "madsen2020": ("madsen2020 NAU -> NMU, 100 inputs", _MADSEN, "madsen2020"),
    # The recipe's first-layer preconditioner is work the plain loop does not do (about 10 µs a step): the same
    # stack without it is the like-for-like comparison of per-step overhead.
    "madsen2020-noprecond": (
        "  the same, train.precondition=false",
        {**_MADSEN, "train.precondition": False},
        "madsen2020",
    ),
}


def _config(case: str) -> Any:
    from nalu_cli.config import resolve as config_resolve

    _, overrides, preset = CASES[case]
    return config_resolve.resolve(overrides={**overrides, "train.seeds": [0], "train.compile": "off"}, preset=preset)


def _plain_step_fn(case: str) -> Any:
    """A hand-written training step for ``case`` (no seed dimension): returns step()."""
    import torch

    cfg = _config(case)
    t = cfg.train
    lo, hi = cfg.task.interpolation[0]
    gen = torch.Generator().manual_seed(0)
    batch = t.batch_size

    if case == "nalu":
        w_hat = torch.empty(1, 2).uniform_(-2, 2, generator=gen).requires_grad_()
        m_hat = torch.empty(1, 2).uniform_(-2, 2, generator=gen).requires_grad_()
        g_w = torch.randn(1, 2, generator=gen).requires_grad_()
        params = [w_hat, m_hat, g_w]

        def forward(x: torch.Tensor) -> torch.Tensor:
            w = torch.tanh(w_hat) * torch.sigmoid(m_hat)  # [1, 2]
            a = x @ w.t()  # [B, 1]
            m = torch.exp(torch.log(torch.abs(x) + 1e-7) @ w.t())  # [B, 1]
            g = torch.sigmoid(x @ g_w.t())  # [B, 1]
            return g * a + (1 - g) * m

        def data() -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.rand(batch, 2, generator=gen) * (hi - lo) + lo  # [B, 2]
            return x, x[:, :1] * x[:, 1:]

        clamp: list[tuple[torch.Tensor, float, float]] = []
    elif case == "nmu":
        w = torch.empty(1, 2).uniform_(0.25, 0.75, generator=gen).requires_grad_()
        params = [w]

        def forward(x: torch.Tensor) -> torch.Tensor:
            return (w[None] * x[:, None, :] + 1 - w[None]).prod(dim=-1)  # [B, 1]

        def data() -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.rand(batch, 2, generator=gen) * (hi - lo) + lo
            return x, x[:, :1] * x[:, 1:]

        clamp = [(w, 0.0, 1.0)]
    else:
        n = cfg.task.input_size
        w1 = torch.empty(2, n).uniform_(-0.24, 0.24, generator=gen).requires_grad_()
        w2 = torch.empty(1, 2).uniform_(0.25, 0.75, generator=gen).requires_grad_()
        params = [w1, w2]
        size = round(n * cfg.task.subset_ratio)
        start_b = size - round(size * cfg.task.overlap_ratio)

        def forward(x: torch.Tensor) -> torch.Tensor:
            h = x @ w1.t()  # [B, 2]
            return (w2[None] * h[:, None, :] + 1 - w2[None]).prod(dim=-1)  # [B, 1]

        def data() -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.rand(batch, n, generator=gen) * (hi - lo) + lo  # [B, I]
            a = x[:, :size].sum(dim=1, keepdim=True)
            b = x[:, start_b : start_b + size].sum(dim=1, keepdim=True)
            return x, a * b

        clamp = [(w1, -1.0, 1.0), (w2, 0.0, 1.0)]

    opt = torch.optim.Adam(params, lr=t.lr, betas=(t.beta1, t.beta2))

    def step() -> None:
        x, y = data()
        loss = ((forward(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p, lo_, hi_ in clamp:
                p.clamp_(lo_, hi_)

    return step


def _measure(case: str, steps: int, rounds: int, queue: Any) -> None:
    import torch

    from nalu_cli.training.trainer import Trainer

    torch.set_num_threads(1)
    trainer = Trainer(_config(case), torch.device("cpu"))
    plain = _plain_step_fn(case)
    for _ in range(20):  # warm-up: first-call allocations
        trainer.train_step()
        plain()
    nalu_times, plain_times = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        nalu_times.append((time.perf_counter() - start) / steps)
        start = time.perf_counter()
        for _ in range(steps):
            plain()
        plain_times.append((time.perf_counter() - start) / steps)
    queue.put((statistics.median(nalu_times), statistics.median(plain_times)))


def measure(case: str, steps: int, rounds: int) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(case, steps, rounds, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def profile(case: str, steps: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from nalu_cli.training.trainer import Trainer

    torch.set_num_threads(1)
    trainer = Trainer(_config(case), torch.device("cpu"))
    for _ in range(20):
        trainer.train_step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            trainer.train_step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help="which models (comma-separated)")
    parser.add_argument("--steps", type=int, default=500, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--profile", default=None, help="profile one case's train_step instead of timing")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.steps)
        return
    print(f"{'model':<36} {'Trainer.train_step':>19} {'plain loop':>11} {'ratio':>7}")
    for case in args.cases.split(","):
        t_nalu, t_plain = measure(case, args.steps, args.rounds)
        print(
            f"{CASES[case][0]:<36} {t_nalu * 1e6:>16.0f} µs {t_plain * 1e6:>8.0f} µs {t_nalu / t_plain:>6.2f}×",
            flush=True,
        )


if __name__ == "__main__":
    main()
