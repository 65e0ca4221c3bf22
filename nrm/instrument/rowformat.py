"""Turning rows into ``cycles.csv`` lines quickly: one ``%`` template per row *shape*.

A shape is which keys a row has and the type of each value. Rows of one shape (nearly every
row of a run: the same probe columns and loop counters, cycle after cycle) share a compiled
template, so a row becomes a line with a single ``template % values`` call in C instead of a
per-cell walk. The text is what :mod:`csv` would write (``QUOTE_MINIMAL``, ``\\n`` line ends),
with two differences that only concern floats of the registry's time columns: they are written
with a fixed number of decimals (:data:`nrm.instrument.columns.FLOAT_FORMATS`: nanoseconds for
``perf_counter`` intervals, microseconds for ``getrusage`` CPU times and Unix time) instead of
``repr``. Every other float is written with ``repr`` (exact), ``None`` as an empty cell,
``int`` as digits, strings (and anything else, as ``str()``) quoted when they contain a comma,
a quote or a line break.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from operator import itemgetter
from typing import Any, Protocol

from nrm.instrument.columns import FLOAT_FORMATS

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_MAX_PLANS = 4096

Plan = tuple[str, Callable[[Sequence[Any]], tuple[Any, ...]], tuple[int, ...]]


def csv_cell(value: Any) -> str:
    """A string cell as ``csv.writer`` writes it (quoted only when it has to be)."""
    text = value if type(value) is str else str(value)
    if _NEEDS_QUOTES.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


def _picker(positions: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if len(positions) >= 2:
        return itemgetter(*positions)
    if positions:
        only = positions[0]
        return lambda values: (values[only],)
    return lambda values: ()


class RowFormatter:
    """CSV lines for rows in ``columns`` order, each row given as parallel ``keys`` and
    ``values`` tuples.

    A key may appear twice (a later value replaces an earlier one, as in a dict); a key that is
    not a column is ignored (the caller validates keys). A row's *shape* is any hashable that
    is equal for two rows only when their keys and value types are equal.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._plans: dict[Hashable, Plan] = {}
        self._safe: set[str] = set()  # strings seen not to need quotes

    def line(self, keys: tuple[str, ...], values: tuple[Any, ...], shape: Hashable = None) -> str:
        """One line (with its ``\n``); ``shape`` ``None``: worked out from keys and types."""
        if shape is None:
            shape = (keys, tuple(map(type, values)))
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._remember(shape, self._compile(keys, values))
        return self._apply(plan, values)

    def text(self, rows: Iterable[tuple[tuple[str, ...], tuple[Any, ...]] | DeferredRow]) -> str:
        """The lines of ``rows``: ``(keys, values)`` pairs or deferred rows (objects with
        ``csv_values() -> (values, shape)`` and ``csv_keys() -> keys``, see
        :class:`nrm.instrument.probe.CycleRow`)."""
        plans = self._plans
        safe = self._safe
        lines = []
        last_shape: Hashable = ()
        plan: Plan | None = None
        for row in rows:
            if type(row) is tuple:
                keys, values = row
                shape: Hashable = (keys, tuple(map(type, values)))
            else:
                values, shape = row.csv_values()
            if shape != last_shape:  # consecutive rows mostly share a shape
                plan = plans.get(shape)
                if plan is None:
                    if type(row) is not tuple:
                        keys = row.csv_keys()
                    plan = self._remember(shape, self._compile(keys, values))
                last_shape = shape
            assert plan is not None
            template, pick, quoted = plan  # as in _apply, inline: this loop is the hot path
            args = pick(values)
            if quoted:
                for i in quoted:
                    value = args[i]
                    if value.__class__ is not str or value not in safe:
                        args = self._quote(args, quoted)
                        break
            lines.append(template % args)
        return "".join(lines)

    def _remember(self, shape: Hashable, plan: Plan) -> Plan:
        if len(self._plans) >= _MAX_PLANS:  # rows whose keys keep changing: start over
            self._plans.clear()
        self._plans[shape] = plan
        return plan

    @property
    def shapes(self) -> int:
        """How many row shapes have been compiled (a handful in a normal run)."""
        return len(self._plans)

    def _apply(self, plan: Plan, values: tuple[Any, ...]) -> str:
        template, pick, quoted = plan
        args = pick(values)
        if quoted:
            safe = self._safe
            for i in quoted:
                value = args[i]
                if value.__class__ is not str or value not in safe:
                    args = self._quote(args, quoted)
                    break
        return template % args

    def _quote(self, args: tuple[Any, ...], quoted: tuple[int, ...]) -> tuple[Any, ...]:
        cells = list(args)
        for i in quoted:
            value = cells[i]
            cells[i] = cell = csv_cell(value)
            if cell is value and len(self._safe) < 4096:
                self._safe.add(value)
        return tuple(cells)

    def _compile(self, keys: tuple[str, ...], values: tuple[Any, ...]) -> Plan:
        last = {key: i for i, key in enumerate(keys)}
        specs: list[str] = []
        positions: list[int] = []
        quoted: list[int] = []
        for column in self.columns:
            i = last.get(column)
            value = None if i is None else values[i]
            if value is None:
                specs.append("")
                continue
            kind = type(value)
            if kind is int:
                specs.append("%d")
            elif kind is float:
                specs.append(FLOAT_FORMATS.get(column, "%r"))
            else:  # str, bool, numpy scalars, ...: as str(), quoted when needed
                quoted.append(len(positions))
                specs.append("%s")
            assert i is not None
            positions.append(i)
        return ",".join(specs) + "\n", _picker(positions), tuple(quoted)


class DeferredRow(Protocol):
    """A row whose values are worked out when it is written
    (:class:`nrm.instrument.probe.CycleRow`)."""

    def csv_values(self) -> tuple[tuple[Any, ...], Hashable]:
        """The values and the row's shape."""
        ...

    def csv_keys(self) -> tuple[str, ...]:
        """The keys that go with the values (asked for once per new shape)."""
        ...
