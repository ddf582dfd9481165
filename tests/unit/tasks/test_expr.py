"""Expressions as ops: the parser's whitelist, derived stacks, the generalised threshold, recovered formulas."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import rng
from nalu_cli.cli.core import app
from nalu_cli.config.derive import NotDerivable, derive_stack
from nalu_cli.config.resolve import resolve
from nalu_cli.errors import ConfigError
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import formula_fields, read_formula
from nalu_cli.tasks.expressions import ExpressionError, parse_expression, symbolically_equal
from nalu_cli.tasks.ops import NAMED_EXPRESSIONS, OPS
from nalu_cli.tasks.registry import make_task
from nalu_cli.units.base import UnitOptions
from tests.conftest import assert_error_line, run_nalu, tiny_config

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "inputs"),
    [
        ("(x0 + x1) * x2", 3),
        ("x0 * x1 - x2", 3),
        ("x0 / x1 + x2", 3),
        ("x0**2", 1),
        ("x0 ** -1 * x3", 4),
        ("sqrt(x0 + x1)", 2),
        ("-x0 * 2.5 + 1", 1),
        ("+x1", 2),
    ],
)
def test_parser_accepts(text: str, inputs: int) -> None:
    assert parse_expression(text).n_inputs == inputs


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("(x0 + y) * x2", "'y' at column 7"),
        ("x0 * * x1", "column 6 ('*')"),
        ("x0 +", "at the end"),
        ("x0 ** x1", "'x1' at column 7"),
        ("x0 ** 0.5", "'0.5' at column 7"),
        ("x0 ** 9", "'9' at column 7"),
        ("__import__('os').system('ls')", "may be called"),
        ("__import__('os')", "'__import__' at column 1"),
        ("exp(x0)", "'exp' at column 1"),
        ("x0 @ x1", "'@' at column 4"),
        ("x0 // x1", "'//' at column 4"),
        ("x0 if x1 else x2", "column 1"),
        ("x0.real", "column 1"),
        ("True * x0", "'True' at column 1"),
        ("'a' + x0", "column 1"),
        ("x100", "'x100' at column 1"),
        ("sqrt(x0, x1)", "one argument"),
        ("3 + 4", "uses no input"),
        ("", "empty"),
        ("(" * 300 + "x0" + ")" * 300, "expression"),
    ],
)
def test_parser_refuses_and_names_the_token(text: str, token: str) -> None:
    with pytest.raises(ExpressionError) as err:
        parse_expression(text)
    assert token in str(err.value)


def test_named_ops_keep_their_meaning_and_typos_their_hint() -> None:
    for name in OPS:
        assert resolve(None, {"task.op": name}).task.op == name
    with pytest.raises(ConfigError, match="unknown op 'mull'; did you mean 'mul'"):
        resolve(None, {"task.op": "mull"})


@pytest.mark.parametrize(
    ("text", "units", "hidden"),
    [
        ("x0 * x1 * x2", ["nmu"], []),
        ("x0 + x1 - x2", ["nau"], []),
        ("x0 / x1", ["nac_mul"], []),
        ("x0 / (x1 * x2)", ["nac_mul"], []),
        ("x0 ** 2 * x1", ["nau", "nmu"], [3]),
        ("(x0 + x1) * x2", ["nau", "nmu"], [2]),
        ("(x0 - x1) / x2", ["nau", "nac_mul"], [2]),
        ("x0 * x1 - x2", ["nmu", "nau"], [2]),
        ("x0 * x1 + x0 * x2 + x1 * x2", ["nmu", "nau"], [3]),
        ("2 * x0 * x1", ["nmu", "nau"], [2]),
        ("x0 / x1 + x2", ["nac_mul", "nau"], [2]),
        ("x0 ** 2 + x1", ["nau", "nmu", "nau"], [3, 2]),
    ],
)
def test_derived_stacks(text: str, units: list[str], hidden: list[int]) -> None:
    stack = derive_stack(parse_expression(text))
    assert (stack.units, stack.hidden) == (units, hidden)
    config = resolve(None, {"task.op": text})
    assert config.model.units() == units and config.model.hidden == hidden


def test_constants_get_an_affine_readout_and_an_explicit_stack_still_trains() -> None:
    assert derive_stack(parse_expression("x0 + 0.5")).units == ["mlp"]  # the readout holds the constant
    with pytest.raises(NotDerivable, match="ratios and repeated"):
        derive_stack(parse_expression("x0**2 / x1 + x2"))
    config = resolve(None, {"task.op": "x0 + 0.5", "model.unit": "mlp", "model.hidden": [4]})
    assert config.model.units() == ["mlp", "mlp"]


def test_unit_and_hidden_override_the_derived_stack() -> None:
    config = resolve(None, {"task.op": "(x0 + x1) * x2", "model.unit": "nalu"})
    assert config.model.units() == ["nalu"] and config.model.hidden == []


def test_generalised_threshold_equals_todays_for_the_named_ops() -> None:
    seeds = torch.tensor([0, 1, 2])
    for name, text in NAMED_EXPRESSIONS.items():
        named = make_task(name, "pair", 100, 0.25, 0.5, [(1.0, 10.0)], [(10.0, 100.0)])
        expression = make_task(text, "pair", 100, 0.25, 0.5, [(1.0, 10.0)], [(10.0, 100.0)])
        x = named.sample_inputs(seeds, rng.STREAM_TEST, 0, 256, named.extrapolation, torch.float32)  # [S, B, 2]
        masks = named.masks(seeds, torch.float32)
        today = named.near_perfect_mse(x, masks, 1e-5)
        general = expression.near_perfect_mse(x, masks, 1e-5)
        assert torch.equal(today, general), name
        assert bool((today > 0).all())


def test_expression_targets_and_domain_checks() -> None:
    task = make_task("(x0 + x1) * x2", "pair", 100, 0.25, 0.5, [(1.0, 2.0)], [(2.0, 6.0)])
    assert task.input_size == 3
    x, y = task.batch(torch.tensor([0]), rng.STREAM_TRAIN, 0, 16, task.interpolation, torch.float64)
    assert torch.allclose(y[..., 0], (x[..., 0] + x[..., 1]) * x[..., 2])
    with pytest.raises(ConfigError, match="divisor 'x1 - x2' at column 7"):
        make_task("x0 / (x1 - x2)", "pair", 100, 0.25, 0.5, [(1.0, 2.0)], [(2.0, 6.0)])
    with pytest.raises(ConfigError, match="sqrt"):
        make_task("sqrt(x0 - x1)", "pair", 100, 0.25, 0.5, [(1.0, 2.0)], [(2.0, 6.0)])
    # A union that avoids 0 is fine for a bare divisor.
    make_task("x0 / x1", "pair", 100, 0.25, 0.5, [(-2.0, -1.0), (1.0, 2.0)], [(-6.0, -2.0), (2.0, 6.0)])
    with pytest.raises(ConfigError, match="pair mode"):
        make_task("x0 * x1", "static", 100, 0.25, 0.5, [(1.0, 2.0)], [(2.0, 6.0)])


def _model(units: list[str], hidden: list[int], n_in: int) -> ArithmeticModel:
    return ArithmeticModel(torch.tensor([0]), n_in, units, hidden, UnitOptions())


def _probe(n: int) -> torch.Tensor:
    return 1 + 9 * rng.uniform(torch.tensor([0]), rng.STREAM_PROBE, 0, (32, n), torch.float32)


def test_three_layer_formula_composes_and_signs_are_pulled_out() -> None:
    m = _model(["nau", "nmu", "nau"], [3, 2], 2)
    with torch.no_grad():
        m.layers[0].W.copy_(torch.tensor([[[-1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]]))
        m.layers[1].W.copy_(torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]))
        m.layers[2].W.copy_(torch.tensor([[[1.0, -1.0]]]))
    readout = read_formula(m, 0, _probe(2))
    assert readout.formula == "y = x0 * x0 - x1"
    assert symbolically_equal(readout.formula, parse_expression("x0**2 - x1"))
    assert not symbolically_equal(readout.formula, parse_expression("x0**2 + x1"))


def test_formula_is_exact_only_when_solved_and_names_the_largest_deviation() -> None:
    m = _model(["nmu"], [], 2)
    with torch.no_grad():
        m.layers[0].W.copy_(torch.tensor([[[0.997, 1.0]]]))
    readout = read_formula(m, 0, _probe(2))
    assert readout.discrete and abs(readout.deviation - 0.003) < 1e-6 and "W[0,0]" in (readout.deviation_at or "")
    fields = formula_fields(readout, solved=False, target=parse_expression("x0 * x1"))
    assert fields["formula"] == "y ≈ x0 * x1" and fields["formula_exact"] is False and fields["recovered"] is True
    assert formula_fields(readout, solved=True, target=None)["formula_exact"] is True


def test_train_reports_solved_and_recovered_for_an_expression(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["train", "--op", "x0 * x1 * x2", "--seeds", "2", "--steps", "1500", "--out", str(tmp_path / "r"), "--json"],
    )
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.stdout)
    assert report["units"] == ["nmu"]
    for seed in report["seeds"]:
        assert seed["solved"] and seed["recovered"] and seed["formula_exact"]
        assert seed["formula"] == "y = x0 * x1 * x2"
    inspect = json.loads(runner.invoke(app, ["inspect-weights", str(tmp_path / "r"), "--json"]).stdout)
    assert inspect["seeds"][0]["exact"] is True and inspect["seeds"][0]["recovered"] is True


def test_named_op_results_carry_recovered() -> None:
    from nalu_cli.training.loop import train

    result = train(tiny_config("add"))
    assert result.seeds[0]["recovered"] is True and result.seeds[0]["formula"] == "y = x0 + x1"


def test_bad_expression_is_one_error_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--op", "(x0 + y) * x2", "--out", str(tmp_path / "r")])
    err = assert_error_line(result, codes=(2,))
    assert "'y' at column 7" in err
    assert not (tmp_path / "r").exists()
    proc = run_nalu("train", "--op", "x0 ** x1", "--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and proc.stderr.startswith("Error:") and "'x1' at column 7" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_formula_line_marks_approximate_and_exact() -> None:
    from nalu_cli.output.render import formula_line

    m = _model(["nmu"], [], 2)
    with torch.no_grad():
        m.layers[0].W.copy_(torch.tensor([[[0.997, 1.0]]]))
    readout = read_formula(m, 0, _probe(2))
    target = parse_expression("x0 * x1")
    line = formula_line(formula_fields(readout, solved=False, target=target)).plain
    assert (
        line == "formula (approximate; largest deviation 0.003 at layer 1 (NMU) W[0,0]): y ≈ x0 * x1  (recovered: yes)"
    )
    assert formula_line(formula_fields(readout, solved=True, target=target)).plain.startswith(
        "formula (exact): y = x0 * x1"
    )
