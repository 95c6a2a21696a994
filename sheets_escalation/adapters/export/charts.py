"""The review's charts drawn by matplotlib (Agg) as PNG images, for the HTML and PDF
exports and the emailed review.
"""

from __future__ import annotations

import io
import warnings

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from sheets_escalation.core.review import Review, Section
from sheets_escalation.core.review_layout import (
    plain_value,
)

_CHART_SIZE = (7.0, 3.2)  # inches, for every chart image

CHART_ASPECT = _CHART_SIZE[1] / _CHART_SIZE[0]


def chart_png(section: Section) -> bytes | None:
    """The section's chart drawn by matplotlib (Agg) as PNG bytes; None without one."""
    spec = section.chart
    if spec is None or section.table.empty:
        return None
    # Sheet text such as "$5 refunds" must not be read as TeX; a character the font lacks
    # is drawn as a box, which is not worth a warning on the user's terminal.
    with matplotlib.rc_context({"text.parse_math": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure = Figure(figsize=_CHART_SIZE, dpi=110)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        labels = [str(v) for v in section.table[spec.category]]
        positions = np.arange(len(labels))
        series = [
            [np.nan if plain_value(v, spec.value_format) is None else float(v)
             for v in section.table[name]]
            for name in spec.values
        ]
        if spec.kind == "line":
            for name, values in zip(spec.values, series, strict=True):
                axes.plot(positions, values, marker="o", label=name)
            axes.set_ylim(bottom=0)
        else:
            bar = 0.8 / len(series)
            for offset, (name, values) in enumerate(zip(spec.values, series, strict=True)):
                bars = axes.bar(positions + (offset - (len(series) - 1) / 2) * bar, values,
                                bar, label=name)
                axes.bar_label(bars, fmt="{:.0%}" if spec.value_format == "pct" else "{:g}",
                               fontsize=8, padding=2)
            axes.margins(y=0.15)
        axes.set_xticks(positions, labels, rotation=20 if len(labels) > 4 else 0, ha="right"
                        if len(labels) > 4 else "center", fontsize=8)
        axes.set_title(spec.title, loc="left")
        if spec.value_format == "pct":
            # Room above 100% for the bars' labels; the ticks stop at 100%.
            axes.set_ylim(0, 1.12)
            axes.set_yticks(np.linspace(0, 1, 6))
            axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        else:
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        if len(spec.values) > 1:
            # Above the plot, right of the left-aligned title: never over a bar.
            axes.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2,
                        frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_images(review: Review) -> list[tuple[str, bytes]]:
    """Given a review, return (chart title, PNG bytes) for each chart the exports draw, in
    the order of the sections."""
    return [(section.chart.title, png) for section in review.sections
            if section.chart is not None and (png := chart_png(section)) is not None]
