"""What a text model (number words, small programs; ``models/text.py``) learned, in the terms of its task: the
value each token's embedding carries through the cell and the output unit, and the place values it applies.

A text model keeps its numbers in the token embeddings, so its unit weights alone say little. For every token
the readout gives:

* ``alone``: the model's output on the one-token text (from the zero state): for number words, "five" → 5
  and "hundred" → 100 once learned;
* ``last``: when the cell and the output unit are both linear (a NAU/NAC+ accumulator over the embeddings,
  ``Unit.linear_weight``), the exact amount the output moves when the token is read last, w_out · W_x · E[tok]
  (the same at every position when the cell's recurrent block is the identity); None otherwise.

And for each probe pair the task names (``TextTask.place_probes``: "five hundred" against "five"), the
outputs on both texts and their ratio: a place-value weight of 100 reads as a ratio of 100.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nalu_cli.units.base import Unit


def _outputs(model: Any, member: int, texts: list[list[int]]) -> list[float]:
    """The outputs of member ``member`` on token-id texts (right-padded with 0): one float per text."""
    length = max(len(t) for t in texts)
    rows = [t + [0] * (length - len(t)) for t in texts]
    weight = model.embedding
    seeds = weight.shape[0]
    x = torch.tensor(rows, dtype=weight.dtype, device=weight.device).expand(seeds, -1, -1)  # [S, N, L]
    with torch.no_grad():
        y = model(x)[member, :, 0].to(torch.float64).cpu()
    return [float(v) for v in y]


def _linear_path(model: Any, member: int) -> torch.Tensor | None:
    """w_out · W_x · E per token [V] when the cell and the output are linear units, else None."""
    cell_w, out_w = (part.linear_weight() if isinstance(part, Unit) else None for part in (model.cell, model.output))
    if cell_w is None or out_w is None:
        return None
    hidden = model.hidden
    w_x = cell_w[member].detach().to(torch.float64)[:, hidden:]  # [H, H]: from the token's embedding
    w_o = out_w[member].detach().to(torch.float64)[0]  # [H]
    e = model.embedding[member].detach().to(torch.float64)  # [V, H]
    return (e @ w_x.T @ w_o).cpu()  # [V]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b != 0 and math.isfinite(a) and math.isfinite(b) else None


def read_tokens(model: Any, task: Any, member: int) -> dict[str, Any] | None:
    """The token table and the place values of member ``member``, or None when the model reads no tokens."""
    names = getattr(task, "token_names", None)
    if names is None or not isinstance(getattr(model, "embedding", None), torch.nn.Parameter):
        return None
    tokens = names()  # id -> name, id 0 (padding) excluded
    ids = sorted(tokens)
    alone = _outputs(model, member, [[i] for i in ids])
    linear = _linear_path(model, member)
    table = [
        {
            "token": tokens[i],
            "id": i,
            "alone": a,
            "last": float(linear[i]) if linear is not None else None,
        }
        for i, a in zip(ids, alone, strict=True)
    ]
    places = []
    probes = task.place_probes()
    if probes:
        texts = [t for pair in probes for t in (pair[0], pair[1])]
        ys = _outputs(model, member, [task.tokens_of(t) for t in texts])
        for k, (text, ref) in enumerate(probes):
            y, y_ref = ys[2 * k], ys[2 * k + 1]
            places.append({"text": text, "of": ref, "value": y, "value_of": y_ref, "ratio": _ratio(y, y_ref)})
    return {"tokens": table, "places": places}
