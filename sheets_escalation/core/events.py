"""History events: one :class:`HistoryEvent` per row of the History tab.

The engine, the jobs and the notification records make events; the History tab stores
them as rows in ``schema.HISTORY_HEADERS`` order, and :func:`read_events` reads the tab
back into the History frame (one column per ``schema.HISTORY_KEYS``), which the engine,
the hand-off and the review query column-wise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sheets_escalation.core import cells, dates, schema
from sheets_escalation.core.grid import raw_frame
from sheets_escalation.core.table import Table, header_index

UTC_DTYPE = "datetime64[ns, UTC]"
#: The History tab's By for every event the tool itself records.
TOOL = "sheets-escalation"


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One History row. ``at`` is an instant (tz-aware); ``event`` is one of
    schema.HISTORY_EVENTS (or a job's own, such as a review sent); ``from_level`` and
    ``to_level`` hold level labels (L2) or, for `status changed`, statuses."""

    at: dt.datetime
    id: str
    event: str
    from_level: str = ""
    to_level: str = ""
    trigger: str = ""
    by: str = ""
    detail: str = ""

    def values(self) -> list[Any]:
        """Return the event's values in schema.HISTORY_HEADERS order, ``at`` as it is."""
        return [self.at, self.id, self.event, self.from_level, self.to_level, self.trigger,
                self.by, self.detail]


def wall_time(stamp: dt.datetime, timezone: str) -> dt.datetime:
    """Given an instant and a timezone, return the naive local time to the second there,
    as a sync writes times into cells."""
    local = pd.Timestamp(stamp).tz_convert(timezone).tz_localize(None).round("s")
    return local.to_pydatetime()


def history_rows(events: Iterable[HistoryEvent], timezone: str) -> list[list[Any]]:
    """Given events, return them as History rows (schema.HISTORY_HEADERS order), the
    instant as a local wall time in ``timezone``, as a sync writes them."""
    return [[wall_time(event.at, timezone), *event.values()[1:]] for event in events]


def frame_events(history: pd.DataFrame) -> list[HistoryEvent]:
    """Given a History frame (or some of its rows), return its rows as events."""
    return [HistoryEvent(*row) for row in history[list(schema.HISTORY_KEYS)]
            .itertuples(index=False, name=None)]


def read_events(table: Table | None, timezone: str) -> pd.DataFrame:
    """Given the History tab and the Settings timezone, return the History frame: one
    column per schema.HISTORY_KEYS, ``at`` in UTC, texts trimmed; empty if the tab is
    absent. Columns are found by header, so people may reorder them."""
    keys = schema.HISTORY_KEYS
    if table is None or len(table.rows) < 2:
        frame = pd.DataFrame({key: pd.Series(dtype=object) for key in keys})
        frame["at"] = pd.Series(dtype=UTC_DTYPE)
        return frame
    index = header_index(table.header)
    raw = raw_frame(table.body)
    data: dict[str, pd.Series] = {}
    for column in schema.HISTORY_COLUMNS:
        position = index.get(schema.normalize_header(column.header))
        source = (raw[position] if position is not None and position in raw.columns
                  else pd.Series([None] * len(raw)))
        if column.kind == "datetime":
            data[column.key] = dates.parse_datetimes(source.astype(object), column.header,
                                                     timezone).values
        else:
            data[column.key] = cells.parse_text(source.astype(object))
    return pd.DataFrame(data)
