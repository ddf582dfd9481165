"""Reading a user's CSV table for ``nalu fit``: checked whole before anything is trained or written.

A table has a header row naming its columns and one row per observation. ``load_table`` picks the target
column and the input columns and refuses, with one message naming the row and column, anything a fit
cannot use: a missing file, a file over ``MAX_BYTES``, a missing target (with a did-you-mean), missing or
non-numeric or non-finite values, fewer than ``MIN_ROWS`` rows. Constant and duplicate input columns are
left out with a warning.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nalu_cli.errors import ConfigError

MAX_BYTES = 50 * 1024 * 1024  # a fit trains on every row at once; larger tables are refused
MIN_ROWS = 20  # below this, a training / validation / held-out split leaves too little
MAX_COLUMNS = 100
CHUNK = 50_000  # rows converted at once by numpy; a chunk with a bad cell is read again cell by cell
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Table:
    """Numeric inputs ``x`` [N, I] and target ``y`` [N], with the column names and the source row numbers."""

    path: str
    inputs: list[str]
    target: str
    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray  # line number in the file of each row (the header is line 1)
    warnings: list[str] = field(default_factory=list)

    def select(self, index: np.ndarray) -> Table:
        return Table(self.path, self.inputs, self.target, self.x[index], self.y[index], self.rows[index], self.warnings)


def _read_text(path: Path) -> str:
    """The table's text, read within ``MAX_BYTES`` while reading (``files.BoundedFile``: a FIFO, ``/dev/zero``
    or a growing file stops at the limit); a UTF-8 byte-order mark is dropped."""
    import os

    from nalu_cli.files import BoundedFile

    if not os.path.lexists(path):
        raise ConfigError(f"no file {str(path)!r}")
    with BoundedFile(path, "table", MAX_BYTES, ConfigError) as f:
        raw = f.read()
        name = f.name
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{name} is not UTF-8 text") from None


def load_table(
    path: str | Path,
    target: str,
    inputs: list[str] | None = None,
    *,
    like: Table | None = None,
) -> Table:
    """Read ``path``; ``inputs`` default to every other column. ``like``: a table to match (same columns).

    Every problem is a ``ConfigError``; the warnings (constant or duplicate columns left out) are on the table.
    """
    p = Path(path)
    text = _read_text(p)
    try:
        records = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise ConfigError(f"{str(p)!r} is not a readable CSV file: {err}") from None
    lines = [(i + 1, r) for i, r in enumerate(records) if r and (r[0].strip() or any(c.strip() for c in r))]
    if not lines:
        raise ConfigError(f"{str(p)!r} is empty; it needs a header row and data rows")
    header_line, header = lines[0]
    names = [h.strip() for h in header]
    for sep, label in ((";", "semicolons"), ("\t", "tabs")):
        if len(names) == 1 and sep in names[0]:
            raise ConfigError(
                f"{str(p)!r} looks separated by {label} ({names[0][:40]!r}); nalu fit reads comma-separated"
                " values: save it as CSV with commas"
            )
    if any(not n for n in names):
        raise ConfigError(f"{str(p)!r}: column {names.index('') + 1} of the header has no name")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{str(p)!r}: the header names column {n!r} twice")
        seen.add(n)
    if len(names) > MAX_COLUMNS:
        raise ConfigError(f"{str(p)!r} has {len(names)} columns; at most {MAX_COLUMNS}")
    if target not in names:
        match = difflib.get_close_matches(target, names, n=1, cutoff=0.5)
        hint = f"; did you mean {match[0]!r}?" if match else ""
        raise ConfigError(f"no column {target!r} in {str(p)!r}{hint} (columns: {', '.join(names)})")
    if like is not None:
        chosen = list(like.inputs)
    elif inputs is not None:
        chosen = inputs
    else:
        chosen = [n for n in names if n != target]
    repeated = next((n for i, n in enumerate(chosen) if n in chosen[:i]), None)
    if repeated is not None:
        raise ConfigError(f"--inputs names column {repeated!r} twice; name each input once")
    for n in chosen:
        if n not in names:
            match = difflib.get_close_matches(n, names, n=1, cutoff=0.5)
            hint = f"; did you mean {match[0]!r}?" if match else ""
            raise ConfigError(f"no input column {n!r} in {str(p)!r}{hint} (columns: {', '.join(names)})")
        if n == target:
            raise ConfigError(f"column {n!r} is the target; it cannot also be an input")
        if not _IDENT.match(n):
            raise ConfigError(
                f"column name {n!r} cannot appear in a formula; use letters, digits and _ (such as {_slug(n)!r})"
            )
    if not chosen:
        raise ConfigError(f"{str(p)!r} has no input column besides the target {target!r}")
    data = lines[1:]
    if len(data) < MIN_ROWS:
        raise ConfigError(f"{str(p)!r} has {len(data)} data rows; a fit needs at least {MIN_ROWS}")
    columns = [target, *chosen]
    index = [names.index(c) for c in columns]
    values = np.empty((len(data), len(columns)), dtype=np.float64)
    for first in range(0, len(data), CHUNK):
        chunk = data[first : first + CHUNK]
        if all(len(record) == len(names) for _, record in chunk):
            try:
                block = np.array([[record[k] for k in index] for _, record in chunk], dtype=np.float64)
            except ValueError:
                block = None
            if block is not None and np.all(np.isfinite(block)):
                values[first : first + len(chunk)] = block  # the fast path; a bad cell is found cell by cell
                continue
        _parse_rows(p, chunk, names, columns, index, values[first : first + len(chunk)])
    y, x = values[:, 0], values[:, 1:]
    rows = np.array([line for line, _ in data])
    warnings: list[str] = []
    if like is None:
        keep: list[int] = []
        for i, name in enumerate(chosen):
            if np.all(x[:, i] == x[0, i]):
                warnings.append(f"column {name!r} is constant ({x[0, i]:g}); it is left out")
                continue
            dup = next((chosen[j] for j in keep if np.array_equal(x[:, i], x[:, j])), None)
            if dup is not None:
                warnings.append(f"column {name!r} repeats column {dup!r}; it is left out")
                continue
            keep.append(i)
        if not keep:
            raise ConfigError(f"{str(p)!r}: every input column is constant or a repeat; nothing to fit")
        chosen = [chosen[i] for i in keep]
        x = x[:, keep]
        if np.all(y == y[0]):
            raise ConfigError(
                f"the target {target!r} is {y[0]:g} on every row of {str(p)!r}: there is nothing to fit;"
                " choose another --target"
            )
    return Table(str(p), chosen, target, x, y, rows, warnings)


def _parse_rows(
    p: Path,
    data: list[tuple[int, list[str]]],
    names: list[str],
    columns: list[str],
    index: list[int],
    values: np.ndarray,
) -> None:
    """Rows (line number, fields) into ``values`` [R, C] one cell at a time; the first bad cell is refused
    with its line and column."""
    for r, (line, record) in enumerate(data):
        if len(record) != len(names):
            raise ConfigError(f"{str(p)!r} line {line}: {len(record)} fields, but the header has {len(names)}")
        for c, k in enumerate(index):
            cell = record[k].strip()
            if not cell:
                raise ConfigError(f"{str(p)!r} line {line}, column {columns[c]!r}: the value is missing")
            try:
                v = float(cell)
            except ValueError:
                raise ConfigError(f"{str(p)!r} line {line}, column {columns[c]!r}: {cell!r} is not a number") from None
            if not math.isfinite(v):
                raise ConfigError(f"{str(p)!r} line {line}, column {columns[c]!r}: {cell!r} is not a finite number")
            values[r, c] = v


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "col"
    return s if _IDENT.match(s) else f"c_{s}"


def holdout_split(table: Table, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) row indices: the rows whose inputs have the largest magnitudes are held out.

    A row's magnitude is the largest of its inputs' |x_i| / median |x_i| (each column on its own scale).
    """
    if not 0.0 < fraction < 0.9:
        raise ConfigError(
            f"--holdout {fraction:g}: must be above 0 and below 0.9 (the fraction of rows held out);"
            " to measure on another table instead, give --test FILE"
        )
    scale = np.median(np.abs(table.x), axis=0)
    scale[scale == 0] = 1.0
    magnitude = np.max(np.abs(table.x) / scale, axis=1)  # [N]
    order = np.argsort(magnitude, kind="stable")
    n_out = max(1, round(len(order) * fraction))
    return np.sort(order[:-n_out]), np.sort(order[-n_out:])
