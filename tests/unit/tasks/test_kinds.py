"""Task kinds (tasks/registry.py): one object per kind holds what differs between pair, static, recurrent and
digits tasks; config validation, task and model building and evaluation all go through it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from nalu_cli.config.resolve import resolve
from nalu_cli.errors import ConfigError
from nalu_cli.models.registry import BUILDERS
from nalu_cli.tasks.registry import KINDS, kind_of, make_task
from nalu_cli.training.build import Members, build_model, build_task
from nalu_cli.training.evaluate import evaluate_range

pytest.importorskip("sklearn")  # the digits kind reads scikit-learn's bundled images

TEXT_OPS = {"words": "identity", "program": "identity"}  # the text kinds read the integer a text denotes


def test_every_kind_is_registered_once_with_a_task_and_a_model() -> None:
    assert tuple(KINDS) == tuple(BUILDERS) == ("pair", "static", "recurrent", "digits", "words", "program")
    for name, kind in KINDS.items():
        assert kind.name == name and kind_of(name) is kind


def test_an_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown mode 'sentences'"):
        kind_of("sentences")
    with pytest.raises(ConfigError, match="unknown mode 'sentences'"):
        make_task("add", "sentences", 2, 0.25, 0.5, [(1.0, 2.0)], [(2.0, 6.0)])


@pytest.mark.parametrize("mode", list(KINDS))
def test_each_kind_builds_its_task_and_model_and_evaluates(mode: str) -> None:
    op = TEXT_OPS.get(mode, "add")
    config = resolve(overrides={"task.mode": mode, "task.op": op, "train.seeds": [0, 1]})
    task = build_task(config)
    assert task.kind is KINDS[mode] and task.mode == mode
    model = build_model(config, Members([0, 1], 1), torch.device("cpu"))
    seeds = torch.tensor([0, 1])
    metrics = evaluate_range(model, task, seeds, task.interpolation, 8, 1e-5)
    assert metrics.mse.shape == (2,) and torch.isfinite(metrics.mse).all()
    assert (metrics.accuracy is not None) == task.kind.solved_by_accuracy  # digits, texts: solved by accuracy
    assert config.describe().startswith(("add (", "number words (words)", "plain+conditional programs (program)"))


def test_kind_rules_are_reported_by_config_validation() -> None:
    with pytest.raises(ConfigError, match="count_digit counts digit images"):
        resolve(overrides={"task.count_digit": 3})
    with pytest.raises(ConfigError, match="lstm is a recurrent cell"):
        resolve(overrides={"model.unit": "lstm"})
    static = {"task.mode": "static", "task.input_size": 7, "task.subset_ratio": 0.5, "task.overlap_ratio": 0.0}
    with pytest.raises(ConfigError, match="two subsets of 4 need 8 inputs but input_size is 7"):
        resolve(overrides=static)
    with pytest.raises(ConfigError, match="multiplies sequences of at most 30 images"):
        resolve(overrides={"task.mode": "digits", "task.op": "mul", "task.extrapolation_length": 31})


def test_config_is_torch_free_for_every_kind() -> None:
    """Importing config and validating a config of every kind never imports torch (nalu_cli/lazy.py)."""
    code = textwrap.dedent(
        """
        import sys
        from nalu_cli.tasks.registry import KINDS
        from nalu_cli.config import budget, loading, recipes, schema
        from nalu_cli.config.resolve import resolve
        for mode in KINDS:
            config = resolve(overrides={"task.mode": mode, "task.op": "identity" if mode in ("words", "program") else "add"})
            config.describe()
            budget.estimate(config)
        print("torch" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_torch_free_check_can_fail() -> None:
    """The same check reports torch once something does import it (so the test above can fail)."""
    code = "import sys; import nalu_cli.config.schema; import nalu_cli.training.build; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True"
