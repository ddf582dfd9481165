"""Mutation check: plant plausible bugs one at a time in a scratch copy and see whether the tests catch them.

Each mutant is one or more exact edits (file, old snippet, new snippet) and the fast tests that should catch
it. For every mutant the repository is copied to a scratch directory, the edits are applied there (the
working tree is never touched), and ``python -m pytest -q -x -p no:cacheprovider TESTS`` runs in the copy with
the copy first on ``PYTHONPATH`` (so the installed ``nalu`` script also runs the mutated code). A mutant is
*caught* when the tests fail. A snippet that is not found exactly once is an ERROR, so the list cannot rot
silently when the code changes: fix the snippet.

Before the mutants, the union of their tests runs once on the unmutated copy; it must pass, or the results
would mean nothing.

    python benchmarks/mutants.py                 # all mutants, 2 at a time
    python benchmarks/mutants.py --jobs 4 -k clamp
    python benchmarks/mutants.py --list
    python benchmarks/mutants.py --check         # only: is every snippet still found exactly once?

Exit status: 0 when every mutant is caught, 1 when one survives, 2 on an ERROR or a failing baseline.
Not part of the default test run (it takes minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("nalu_cli", "tests", "benchmarks", "sample_configs", "pyproject.toml", "README.md")


@dataclass(frozen=True)
class Mutant:
    name: str
    edits: tuple[tuple[str, str, str], ...]  # (file, exact old snippet, new snippet)
    tests: tuple[str, ...]  # pytest paths or node ids


def m(name: str, file: str, old: str, new: str, *tests: str) -> Mutant:
    return Mutant(name, ((file, old, new),), tests)


SOLVED = "tests/unit/training/test_solved_criterion.py"
CONSTRAINTS = "tests/unit/units/test_constraints.py"
DURABILITY = "tests/unit/runs/test_durability.py"
RESTARTS = "tests/unit/training/test_restarts.py"
UNITS = "tests/unit/units/test_units.py"
STREAMS = "tests/unit/tasks/test_data_streams.py"
OPTIM = "tests/unit/training/test_optim_reference.py"
TRAIN = "tests/unit/training/test_train.py"

MUTANTS: list[Mutant] = [
    # -- the seven of issue 15's table ------------------------------------------------------------------------
    m("NMU forward +1-w -> +1+w", "nalu_cli/units.py",
      "return w * x.unsqueeze(2) + 1.0 - w", "return w * x.unsqueeze(2) + 1.0 + w", UNITS),
    m("solved threshold with eps x 10", "nalu_cli/evaluate.py",
      "task.near_perfect_mse(x, masks, solved_eps)", "task.near_perfect_mse(x, masks, solved_eps * 10)", SOLVED),
    m("atomic writer writes in place", "nalu_cli/files.py",
      "fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)",
      "fd, tmp_name = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), str(path)", DURABILITY),
    Mutant("file and directory fsyncs removed, rename kept", (
        ("nalu_cli/files.py", "            os.fsync(f.fileno())\n", "            pass\n"),
        ("nalu_cli/files.py", "        raise\n    fsync_dir(directory)\n", "        raise\n"),
    ), (DURABILITY,)),
    m("NMU clamp (0, 1) -> (-1, 1)", "nalu_cli/units.py",
      "self.W.detach().clamp_(0.0, 1.0)", "self.W.detach().clamp_(-1.0, 1.0)", CONSTRAINTS),
    m("reports read restart 0, not the selected restart", "nalu_cli/reports.py",
      'member = by_seed.get(seed, {}).get("member", i * k)', "member = i * k", RESTARTS),
    m("Adam without bias correction of v", "nalu_cli/optim.py",
      "[1.0 - self.beta1**k, 1.0 - self.beta2**k]", "[1.0 - self.beta1**k, 1.0]", OPTIM),
    m("preconditioner without the damping", "nalu_cli/precondition.py",
      "a = var / second + damping", "a = var / second", TRAIN),
    m("first layer's product returns the riders' columns as its output", "nalu_cli/units.py",
      "z, r = out[..., : w.shape[1]], out[..., w.shape[1] :]", "r, z = out[..., : w.shape[1]], out[..., w.shape[1] :]",
      UNITS),
    # -- ordering of durable writes ---------------------------------------------------------------------------
    m("rename before the file's fsync", "nalu_cli/files.py",
      "            os.fsync(f.fileno())\n            os.fchmod(f.fileno(), 0o666 & ~current_umask())\n"
      "        os.replace(tmp_name, path)\n",
      "            os.fchmod(f.fileno(), 0o666 & ~current_umask())\n            os.replace(tmp_name, path)\n"
      "            os.fsync(f.fileno())\n", DURABILITY),
    Mutant("directory fsynced before the rename", (
        ("nalu_cli/files.py", "        os.replace(tmp_name, path)\n",
         "        fsync_dir(directory)\n        os.replace(tmp_name, path)\n"),
        ("nalu_cli/files.py", "        raise\n    fsync_dir(directory)\n", "        raise\n"),
    ), (DURABILITY,)),
    m("metrics log not flushed per line", "nalu_cli/checkpoint.py",
      "        self._file.flush()\n", "        pass\n", DURABILITY),
    m("resume keeps metrics lines before the checkpoint step only", "nalu_cli/checkpoint.py",
      'line.get("step", 0) <= truncate_after_step', 'line.get("step", 0) < truncate_after_step', DURABILITY),
    # -- clamps and gates -------------------------------------------------------------------------------------
    m("NAU clamp (-1, 1) -> (-2, 2)", "nalu_cli/units.py",
      "self.W.detach().clamp_(-1.0, 1.0)", "self.W.detach().clamp_(-2.0, 2.0)", CONSTRAINTS),
    m("NPU relevance gate clamp widened", "nalu_cli/units.py",
      "self.g.detach().clamp_(0.0, 1.0)", "self.g.detach().clamp_(-1.0, 2.0)", CONSTRAINTS),
    m("NALU gate swapped", "nalu_cli/units.py",
      "return g * a + (1.0 - g) * m\n", "return g * m + (1.0 - g) * a\n", UNITS),
    m("NPU sign indicator flipped", "nalu_cli/units.py",
      "k = (x < 0).to(x.dtype)", "k = (x > 0).to(x.dtype)", UNITS),
    m("NPU imaginary weight's sign flipped in the magnitude", "nalu_cli/units.py",
      "magnitude = magnitude - math.pi * _linear(k, self.W_im)", "magnitude = magnitude + math.pi * _linear(k, self.W_im)",
      UNITS),
    m("NAC+ weight sign flip", "nalu_cli/units.py",
      "def weight(self) -> torch.Tensor:\n        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)",
      "def weight(self) -> torch.Tensor:\n        return torch.tanh(self.W_hat) * torch.sigmoid(-self.M_hat)", UNITS),
    # -- the solved criterion and metrics ---------------------------------------------------------------------
    m("nearly perfect model without the output weights' eps", "nalu_cli/tasks.py",
      "y_eps = self.op.fn(a_eps * (1 - eps), b_eps * (1 - eps))", "y_eps = self.op.fn(a_eps, b_eps)", SOLVED),
    m("solved_eps default 1e-5 -> 1e-4", "nalu_cli/config.py",
      "solved_eps: float = Field(1e-5,", "solved_eps: float = Field(1e-4,", SOLVED),
    m("relative error divides by the prediction", "nalu_cli/evaluate.py",
      "err.abs() / y.abs().clamp(min=1e-12)", "err.abs() / pred.abs().clamp(min=1e-12)", SOLVED),
    m("MAE without the absolute value", "nalu_cli/evaluate.py",
      "ab += err.abs().sum(dim=(1, 2))", "ab += err.sum(dim=(1, 2))", SOLVED),
    m("every evaluation chunk draws the same inputs", "nalu_cli/evaluate.py",
      "task.sample_inputs(seeds, stream, chunk_index, EVAL_CHUNK", "task.sample_inputs(seeds, stream, 0, EVAL_CHUNK",
      SOLVED),
    m("sparsity error averaged instead of the max", "nalu_cli/evaluate.py",
      ".reshape(w.shape[0], -1).amax(dim=1))", ".reshape(w.shape[0], -1).mean(dim=1))", SOLVED),
    m("formula tolerance 0.05 -> 0.1", "nalu_cli/formula.py",
      "tol: float = 0.05", "tol: float = 0.1", "tests/unit/readouts/test_readout_tolerance.py"),
    # -- regularisers -----------------------------------------------------------------------------------------
    m("NAU regulariser summed, not averaged", "nalu_cli/units.py",
      "return torch.minimum(w, 1.0 - w).mean(dim=(1, 2))", "return torch.minimum(w, 1.0 - w).sum(dim=(1, 2))",
      CONSTRAINTS),
    m("regulariser warm-up divides by end, not end - start", "nalu_cli/config.py",
      "(step - self.start) / (self.end - self.start)", "(step - self.start) / self.end", CONSTRAINTS),
    m("regulariser left out of the objective", "nalu_cli/train.py",
      "objective = loss + self.model.regularizer() * lam if lam > 0 else loss", "objective = loss", CONSTRAINTS),
    # -- restarts, RNG streams, seed independence -------------------------------------------------------------
    m("restart selection takes the worst restart", "nalu_cli/train.py",
      "int(torch.argmin(valid))", "int(torch.argmax(valid))", RESTARTS),
    m("validation data drawn from the training stream", "nalu_cli/train.py",
      "ranges, stream = self.task.interpolation, rng.STREAM_VALID",
      "ranges, stream = self.task.interpolation, rng.STREAM_TRAIN", STREAMS),
    # The key is hashed in Python integers for up to 64 seeds on the CPU, else in tensors: mutate both paths.
    m("generator key ignores the stream", "nalu_cli/rng.py",
      "return _mix_int(h ^ (stream & _M32))", "return _mix_int(h)", STREAMS),
    m("generator key ignores the seed's high bits (restarts collide)", "nalu_cli/rng.py",
      "h = _mix_int(h ^ ((seed >> 32) & _M32))", "h = _mix_int(h)", STREAMS),
    m("tensor generator key ignores the stream", "nalu_cli/rng.py",
      "h = _mix(h ^ (stream & _M32))", "h = _mix(h)", STREAMS, "tests/unit/tasks/test_rng.py"),
    m("tensor generator key ignores the seed's high bits", "nalu_cli/rng.py",
      "h = _mix(h ^ ((seeds >> 32) & _M32))", "h = _mix(h)", STREAMS, "tests/unit/tasks/test_rng.py"),
    m("batches drawn ahead: a step's place in its block counted from step 0, not from the block's start",
      "nalu_cli/train.py", "k = self.step - self._ahead_first", "k = self.step % self._ahead_steps",
      TRAIN + "::test_drawing_ahead_trains_the_same_floats_as_a_draw_per_step"),
    m("batches drawn ahead: keys of the block's first step for all", "nalu_cli/rng.py",
      "for k in range(step, step + steps) for s in listed", "for k in [step] * steps for s in listed",
      "tests/unit/tasks/test_rng.py"),
    m("restart stride 2**32 -> 1 (restart k of seed s is seed s + k)", "nalu_cli/train.py",
      "RESTART_STRIDE = 2**32", "RESTART_STRIDE = 1", STREAMS),
    m("gradient clipping by the norm of all seeds together", "nalu_cli/optim.py",
      "factor = torch.clamp(max_norm / (torch.sqrt(sq) + 1e-6), max=1.0)",
      "factor = torch.clamp(max_norm / (torch.sqrt(sq.sum()) + 1e-6), max=1.0).expand_as(sq)", OPTIM),
    m("a refused seed still gets its update", "nalu_cli/optim.py",
      "self.flat.copy_(torch.where(keep, p_next, self.flat))", "self.flat.copy_(p_next)", OPTIM),
    m("Adam without bias correction of m", "nalu_cli/optim.py",
      "[1.0 - self.beta1**k, 1.0 - self.beta2**k]", "[1.0, 1.0 - self.beta2**k]", OPTIM),
    # -- loading and signals ----------------------------------------------------------------------------------
    m("checkpoints loaded with weights_only=False", "nalu_cli/checkpoint.py",
      'torch.load(path, map_location="cpu", weights_only=True)',
      'torch.load(path, map_location="cpu", weights_only=False)',
      "tests/system/test_reliability_checkpoints.py::test_malicious_pickle_is_refused_and_never_runs"),
    m("second SIGTERM exits 130", "nalu_cli/cli.py",
      "self.code = 130 if signum == signal.SIGINT else 143", "self.code = 130",
      "tests/system/test_reliability_signals.py::test_second_signal_exits_at_once_with_its_own_code"),
]  # fmt: skip


def copy_repo(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, dest / name)


def apply(mutant: Mutant, dest: Path) -> str | None:
    """Apply the edits in ``dest``; the problem as text when a snippet is not found exactly once."""
    for file, old, new in mutant.edits:
        path = dest / file
        if not path.exists():
            return f"{file} does not exist"
        text = path.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            return f"snippet found {count} times in {file} (must be exactly once): {old.strip()[:70]!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return None


def run_tests(dest: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, str, float]:
    """(passed, last lines of output, seconds) of pytest on ``tests`` inside the copy ``dest``."""
    env = {**os.environ, "PYTHONPATH": str(dest), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s", time.perf_counter() - start
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    return done.returncode == 0, tail, time.perf_counter() - start


def check_copy_is_used(dest: Path) -> None:
    """The copy, not the installed checkout, must be what the tests import."""
    env = {**os.environ, "PYTHONPATH": str(dest)}
    code = "import nalu_cli, sys; print(nalu_cli.__file__)"
    where = subprocess.run([sys.executable, "-c", code], cwd=dest, env=env, capture_output=True, text=True).stdout
    if not Path(where.strip()).resolve().is_relative_to(dest.resolve()):
        raise SystemExit(f"ERROR: the scratch copy is not imported first (nalu_cli from {where.strip()})")


def one(mutant: Mutant, scratch: Path, timeout: float) -> tuple[str, str, float]:
    """(verdict, detail, seconds): verdict caught, NOT CAUGHT or ERROR."""
    dest = Path(tempfile.mkdtemp(prefix="mutant-", dir=scratch))
    try:
        copy_repo(dest)
        problem = apply(mutant, dest)
        if problem is not None:
            return "ERROR", problem, 0.0
        passed, tail, seconds = run_tests(dest, mutant.tests, timeout)
        return ("NOT CAUGHT" if passed else "caught"), tail.splitlines()[-1] if tail else "", seconds
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", "-j", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("-k", default="", help="only mutants whose name contains this text")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant's tests")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="only check that every snippet is found (no tests)")
    args = parser.parse_args()
    mutants = [mu for mu in MUTANTS if args.k.lower() in mu.name.lower()]
    if args.list:
        for mu in mutants:
            print(f"{mu.name}  [{', '.join(mu.tests)}]")
        return 0
    if args.check:
        errors = 0
        for mu in mutants:
            for file, old, _ in mu.edits:
                count = (ROOT / file).read_text(encoding="utf-8").count(old) if (ROOT / file).exists() else 0
                if count != 1:
                    errors += 1
                    print(f"ERROR  {mu.name}: snippet found {count} times in {file}: {old.strip()[:70]!r}")
        print(f"{len(mutants)} mutants, {errors} snippet errors")
        return 2 if errors else 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nalu-mutants-") as tmp:
        scratch = Path(tmp)
        base = scratch / "baseline"
        base.mkdir()
        copy_repo(base)
        check_copy_is_used(base)
        tests = tuple(dict.fromkeys(t for mu in mutants for t in mu.tests))
        passed, tail, seconds = run_tests(base, tests, args.timeout * 2)
        print(f"baseline (no mutant): {'pass' if passed else 'FAIL'} in {seconds:.0f} s — {len(tests)} test targets")
        if not passed:
            print(tail)
            return 2
        verdicts: dict[str, int] = {"caught": 0, "NOT CAUGHT": 0, "ERROR": 0}
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [(mu, pool.submit(one, mu, scratch, args.timeout)) for mu in mutants]
            for mu, future in futures:
                verdict, detail, secs = future.result()
                verdicts[verdict] += 1
                print(f"{verdict:>10}  {mu.name}  ({secs:.0f} s; {detail})", flush=True)
    total = time.perf_counter() - started
    print(
        f"\n{verdicts['caught']} of {len(mutants)} mutants caught, {verdicts['NOT CAUGHT']} not caught,"
        f" {verdicts['ERROR']} errors · {total:.0f} s with {args.jobs} jobs"
    )
    if verdicts["ERROR"]:
        return 2
    return 1 if verdicts["NOT CAUGHT"] else 0


if __name__ == "__main__":
    sys.exit(main())
