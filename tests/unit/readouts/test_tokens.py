"""The token readout of text models (readouts/tokens.py): each token's value alone, the exact linear path of a
NAU accumulator, and the place values a model applies, checked against the model's own outputs."""

from __future__ import annotations

import pytest
import torch

from nalu_cli.models.text import TextModel
from nalu_cli.readouts.tokens import read_tokens
from nalu_cli.tasks.program import program_task
from nalu_cli.tasks.words import TOKEN, VOCABULARY, words_task
from nalu_cli.units.base import UnitOptions

WORDS = words_task(((0.0, 999.0),), ((1000.0, 999_999.0),))


def accumulator(hidden: int = 4, seeds: int = 2) -> TextModel:
    return TextModel(torch.arange(seeds), VOCABULARY, ["nau", "nau"], hidden, UnitOptions())


def test_a_nau_accumulator_reads_as_its_exact_linear_path() -> None:
    model = accumulator()
    with torch.no_grad():  # a hand-made accumulator: h_t = h_{t-1} + e_t, y = h[0]; "five" carries 5
        model.cell.W.zero_()
        model.cell.W[:, :, :4] = torch.eye(4)
        model.cell.W[:, :, 4:] = torch.eye(4)
        model.output.W.zero_()
        model.output.W[:, 0, 0] = 1.0
        model.embedding.zero_()
        model.embedding[1, TOKEN["five"], 0] = 5.0
        model.embedding[1, TOKEN["hundred"], 0] = 100.0
    read = read_tokens(model, WORDS, 1)
    assert read is not None
    by_name = {t["token"]: t for t in read["tokens"]}
    assert len(by_name) == VOCABULARY - 1 and "zero" in by_name and "and" in by_name
    assert by_name["five"]["alone"] == pytest.approx(5.0) and by_name["five"]["last"] == pytest.approx(5.0)
    assert by_name["hundred"]["last"] == pytest.approx(100.0) and by_name["seven"]["last"] == 0.0
    five_hundred = next(p for p in read["places"] if p["text"] == "five hundred")
    # an accumulator adds: "five hundred" reads 5 + 100, so its place value is 21, not 100
    assert five_hundred["value"] == pytest.approx(105.0) and five_hundred["ratio"] == pytest.approx(21.0)
    assert read_tokens(model, WORDS, 0)["tokens"][0]["alone"] == 0.0  # member 0 was left at zero


def test_token_values_are_the_model_outputs_on_each_text() -> None:
    model = TextModel(torch.arange(2), VOCABULARY, ["lstm", "nalu"], 8, UnitOptions())
    read = read_tokens(model, WORDS, 1)
    assert read is not None
    x = torch.tensor([[TOKEN["nine"], TOKEN["thousand"]], [TOKEN["nine"], 0]], dtype=torch.float32)
    with torch.no_grad():
        y = model(x.expand(2, -1, -1))[1, :, 0]
    nine_thousand = next(p for p in read["places"] if p["text"] == "nine thousand")
    assert nine_thousand["value"] == pytest.approx(float(y[0])) and nine_thousand["value_of"] == pytest.approx(
        float(y[1])
    )
    assert all(t["last"] is None for t in read["tokens"])  # an LSTM cell has no linear path


def test_program_tokens_are_characters_and_its_place_values_digits() -> None:
    task = program_task(((0.0, 999.0),), ((1000.0, 99_999.0),), "plain")
    model = TextModel(torch.arange(1), task.vocabulary, ["nau", "nau"], 4, UnitOptions())
    read = read_tokens(model, task, 0)
    assert read is not None
    assert "".join(t["token"] for t in read["tokens"]).startswith("0123456789")
    assert [p["text"] for p in read["places"]] == [
        "a=50;b=0;print(a+b)",
        "a=500;b=0;print(a+b)",
        "a=5000;b=0;print(a+b)",
    ]
    assert {p["of"] for p in read["places"]} == {"a=5;b=0;print(a+b)"}
