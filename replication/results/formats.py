"""A results table, its cells' number formats and its renderings: Markdown, CSV, LaTeX, HTML.

Tables are built once as display strings (:class:`Table`, with the number formats below) and
only rendered here, so the four formats can never disagree on a number.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from replication.results.tidy import to_csv

NONE = "\u2013"  # en dash: no value
NOT_RUN = "not run"  # a planned run, variant or experiment without a finished run


def num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """A number with thousands separators and ``digits`` decimals; :data:`NONE` for None.

    >>> num(1234.5), num(None), num(2.5, 2, "x")
    ('1,234.5', '\u2013', '2.50x')
    """
    return NONE if value is None else f"{value:,.{digits}f}{suffix}"


def sig(value: float | None, digits: int = 3) -> str:
    """Significant digits, for quantities spanning many orders (device-hours)."""
    return NONE if value is None else f"{value:.{digits}g}"


def ratio(top: float | None, bottom: float | None) -> float | None:
    """``top / bottom``, or None when either is missing or ``bottom`` is 0."""
    return None if top is None or not bottom else top / bottom


@dataclass(frozen=True)
class Table:
    """One table: an id (its file name), a title, a caption and rows of display strings."""

    id: str
    title: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""  # one of 'l'/'r' per column; default: first left, rest right
    notes: tuple[str, ...] = field(default=())

    def alignment(self) -> str:
        """Column alignment letters."""
        return self.align or "l" + "r" * (len(self.columns) - 1)


def to_markdown(table: Table) -> str:
    """GitHub Markdown: bold title, caption, pipe table, notes."""
    align = {"l": ":--", "r": "--:"}
    lines = [f"**{table.title}**", "", table.caption, ""]
    lines.append("| " + " | ".join(_md(c) for c in table.columns) + " |")
    lines.append("|" + "|".join(align[a] for a in table.alignment()) + "|")
    lines.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows)
    lines.extend(["", *(f"- {n}" for n in table.notes)] if table.notes else [])
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def to_table_csv(table: Table) -> str:
    """The rows as CSV (the same display strings as the other formats)."""
    return to_csv([dict(zip(table.columns, row, strict=True)) for row in table.rows], table.columns)


_LATEX = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "±": r"$\pm$",
    "\u00d7": r"$\times$",
    "Δ": r"$\Delta$",
    "≈": r"$\approx$",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_escape(text: str) -> str:
    r"""Escape LaTeX specials.

    >>> latex_escape("top-1 (%) 71.2 ± 1.0 & more_x")
    'top-1 (\\%) 71.2 $\\pm$ 1.0 \\& more\\_x'
    """
    return _LATEX_RE.sub(lambda m: _LATEX[m.group()], text)


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment with caption and label ``tab:<id>``."""
    header = " & ".join(latex_escape(c) for c in table.columns) + r" \\"
    body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows]
    caption = latex_escape(f"{table.title}. {table.caption}")
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{caption}}}",
            rf"\label{{tab:{table.id}}}",
            rf"\begin{{tabular}}{{{table.alignment()}}}",
            r"\toprule",
            header,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )


def to_html(table: Table) -> str:
    """An HTML ``<table>`` with a ``<caption>`` (for the report)."""
    esc = html.escape
    cls = {"l": "left", "r": "right"}
    aligns = [cls[a] for a in table.alignment()]
    head = "".join(
        f'<th class="{a}">{esc(c)}</th>' for a, c in zip(aligns, table.columns, strict=True)
    )
    rows = "\n".join(
        "<tr>"
        + "".join(f'<td class="{a}">{esc(c)}</td>' for a, c in zip(aligns, row, strict=True))
        + "</tr>"
        for row in table.rows
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.notes)
    return (
        f'<table id="{esc(table.id)}">\n<caption><b>{esc(table.title)}.</b> '
        f"{esc(table.caption)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n"
        f"</tbody>\n</table>\n" + (f'<ul class="notes">{notes}</ul>\n' if notes else "")
    )
