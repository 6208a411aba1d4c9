"""What the weekly report and the EBR decks share: one Jinja environment (HTML escaped, Markdown
not, undefined names an error), tables of formatted text and charts as data URIs.

Templates live in `templates/`: `*.html.j2` are autoescaped, so a household name or an NPS
comment can never inject markup; `*.md.j2` are plain text."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from cs_assets.display import markdown_table
from cs_assets.figures import data_uri, figure_png
from cs_assets.templating import environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
MISSING = "n/a"
_jinja = environment(TEMPLATES, keep_trailing_newline=True)


def render(template: str, **context) -> str:
    return _jinja.get_template(template).render(**context)


def number(value: float | int | None, decimals: int = 1) -> str:
    if value is None:
        return MISSING
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value + 0.0:,.{decimals}f}"  # + 0.0: a negative zero prints as 0


def percent(value: float | None, decimals: int = 1) -> str:
    """`value` already in percent."""
    return MISSING if value is None else f"{value:.{decimals}f}%"


def signed_percent(value: float | None, decimals: int = 1) -> str:
    return MISSING if value is None else f"{value:+.{decimals}f}%"


def money(value: float | None) -> str:
    return MISSING if value is None else f"${value:,.2f}"


def text(value) -> str:
    """Any cell: floats to 2 decimals, None as n/a."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return number(value, 2)
    return str(value)


def unit(formatted: str, suffix: str) -> str:
    """`suffix` after a figure, not after n/a."""
    return formatted if formatted == MISSING else formatted + suffix


_jinja.filters.update(number=number, percent=percent, signed=signed_percent, money=money,
                      unit=unit)


@dataclass(frozen=True)
class Table:
    """A table as text, so HTML and Markdown show the same figures."""

    columns: list[str]
    rows: list[list[str]]

    def markdown(self, empty: str = "_no data this week_") -> str:
        if not self.rows:
            return empty + "\n"
        return markdown_table(pl.DataFrame(self.rows, schema=self.columns, orient="row"))


def table(frame: pl.DataFrame, formats: Mapping[str, Callable[[object], str]] | None = None,
          labels: Mapping[str, str] | None = None) -> Table:
    """`frame` as text: a column's formatter from `formats`, else `text`."""
    formats, labels = formats or {}, labels or {}
    columns = frame.columns
    rows = [[formats.get(c, text)(v) for c, v in zip(columns, row, strict=True)]
            for row in frame.iter_rows()]
    return Table([labels.get(c, c.replace("_", " ")) for c in columns], rows)


COLOURS = {"critical": "#c0392b", "at_risk": "#e67e22", "healthy": "#27ae60"}


def line_chart(x: Sequence, series: Mapping[str, Sequence[float | None]], *, title: str,
               ylabel: str) -> str:
    """A small line chart as a PNG data URI (embedded, so the file stands alone)."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for name, values in series.items():
        ax.plot(list(x), list(values), marker="o", label=name.replace("_", " "),
                color=COLOURS.get(name))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    return data_uri(figure_png(fig))


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, ylabel: str,
              colours: Sequence[str] | None = None) -> str:
    """A small bar chart as a PNG data URI."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar([str(v) for v in labels], list(values), color=list(colours) if colours else None)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="x", labelrotation=20)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    return data_uri(figure_png(fig))
