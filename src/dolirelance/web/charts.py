"""The report's charts, drawn server-side with matplotlib (the only home of matplotlib).

matplotlib because one figure gives both an SVG (for the page, and to paste into a presentation)
and a PNG, offline, with no browser-side code; it is the best kept Python charting library. Only
the object API (``Figure``) is used: no pyplot, so no global figure state shared between requests.
Drawing is CPU work: callers run it off the event loop.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dolirelance.effectiveness import GroupRow, Rate, Report

__all__ = ["CHARTS", "chart_png", "chart_svg"]

matplotlib.use("Agg")  # no display, ever

BLUE = "#8fa9cc"  # followed up / reached
GREEN = "#2e8b57"  # signed
GREY = "#b8b8b8"
WIDTH_INCHES = 7.0


def _labels(lang: str) -> dict[str, str]:
    fr = lang == "fr"
    return {
        "quotes": "Devis relancés" if fr else "Quotes followed up",
        "signed": "Signés ensuite" if fr else "Signed afterwards",
        "step": "Étape" if fr else "Step",
        "manual": "Manuelle" if fr else "Manual",
        "followups": "Relances faites" if fr else "Follow-ups done",
        "amount": "Montant signé HT" if fr else "Amount signed excl. tax",
        "with": "Avec relance" if fr else "With a follow-up",
        "without": "Sans relance" if fr else "Without follow-up",
        "rate": "Taux de signature (%)" if fr else "Signature rate (%)",
        "reached": "Devis arrivés à ce stade" if fr else "Quotes reaching this stage",
        "nth": "{n}re relance" if fr else "follow-up {n}",
        "nth_other": "{n}e relance" if fr else "follow-up {n}",
        "nothing": "Aucune relance sur la période" if fr else "No follow-up in the period",
    }


def _rate_text(rate: Rate, lang: str) -> str:
    percent = rate.percent
    if percent is None:
        return f"{rate.count}/{rate.total}"
    shown = f"{percent:g}".replace(".", ",") if lang == "fr" else f"{percent:g}"
    return f"{rate.count}/{rate.total} · {shown} %"


def _figure(rows: int) -> Figure:
    figure = Figure(figsize=(WIDTH_INCHES, max(2.2, 0.75 * rows + 1.2)), layout="constrained")
    return figure


def _empty(figure: Figure, text: str) -> Figure:
    axes = figure.subplots()
    axes.axis("off")
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#555")
    return figure


def _group_bars(rows: Sequence[GroupRow], names: Sequence[str], lang: str) -> Figure:
    words = _labels(lang)
    figure = _figure(len(rows))
    if not rows:
        return _empty(figure, words["nothing"])
    axes = figure.subplots()
    positions = list(range(len(rows)))[::-1]  # first row on top
    height = 0.38
    quotes = [row.tally.quotes for row in rows]
    signed = [row.tally.signed for row in rows]
    axes.barh([p + height / 2 for p in positions], quotes, height, color=BLUE, label=words["quotes"])
    bars = axes.barh([p - height / 2 for p in positions], signed, height, color=GREEN, label=words["signed"])
    axes.bar_label(bars, labels=[_rate_text(row.tally.conversion, lang) for row in rows], padding=3, fontsize=9)
    axes.set_yticks(positions, list(names))
    axes.set_xlim(0, max(quotes) * 1.35 or 1)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="lower right", fontsize=9, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def models_chart(report: Report, lang: str) -> Figure:
    return _group_bars(report.by_model, [row.key for row in report.by_model], lang)


def steps_chart(report: Report, lang: str) -> Figure:
    words = _labels(lang)
    names = [words["manual"] if not row.key.isdigit() else f"{words['step']} {row.key}" for row in report.by_step]
    return _group_bars(report.by_step, names, lang)


def funnel_chart(report: Report, lang: str) -> Figure:
    words = _labels(lang)
    stages = report.funnel
    figure = _figure(len(stages))
    if not stages:
        return _empty(figure, words["nothing"])
    axes = figure.subplots()
    positions = list(range(len(stages)))[::-1]
    widest = max(stage.reached for stage in stages)
    # centred bars: the classic funnel shape, narrowing stage after stage
    axes.barh(positions, [s.reached for s in stages], 0.7, left=[(widest - s.reached) / 2 for s in stages],
              color=BLUE, label=words["reached"])
    signed_bars = axes.barh(positions, [s.signed for s in stages], 0.7,
                            left=[(widest - s.signed) / 2 for s in stages], color=GREEN, label=words["signed"])
    rates = [_rate_text(Rate(s.signed, s.reached), lang) for s in stages]
    axes.bar_label(signed_bars, labels=rates, label_type="center", fontsize=9, color="white", fontweight="bold")
    names = [(words["nth"] if s.rank == 1 else words["nth_other"]).format(n=s.rank) for s in stages]
    axes.set_yticks(positions, [f"{name}\n({s.reached})" for name, s in zip(names, stages, strict=True)])
    axes.set_xticks([])
    axes.spines[["top", "right", "bottom"]].set_visible(False)
    axes.legend(loc="lower right", fontsize=9, frameon=False, bbox_to_anchor=(1, -0.25), ncols=2)
    return figure


def months_chart(report: Report, lang: str) -> Figure:
    words = _labels(lang)
    figure = Figure(figsize=(WIDTH_INCHES, 3.4), layout="constrained")
    axes = figure.subplots()
    names = [month.month.strftime("%m/%y") for month in report.months]
    positions = list(range(len(names)))
    axes.bar(positions, [m.followups for m in report.months], 0.6, color=BLUE, label=words["followups"])
    axes.set_xticks(positions, names, fontsize=8, rotation=45 if len(names) > 6 else 0)
    axes.set_ylabel(words["followups"])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    amounts = axes.twinx()
    amounts.plot(positions, [float(m.amount_signed) for m in report.months], color=GREEN, marker="o",
                 label=words["amount"])
    amounts.set_ylabel(words["amount"] + " (€)", color=GREEN)
    amounts.set_ylim(bottom=0)
    for axis in (axes, amounts):
        axis.spines[["top"]].set_visible(False)
    handles = axes.get_legend_handles_labels()[0] + amounts.get_legend_handles_labels()[0]
    figure.legend(handles, [words["followups"], words["amount"]], loc="outside upper center", ncols=2,
                  fontsize=9, frameon=False)
    return figure


def comparison_chart(report: Report, lang: str) -> Figure:
    words = _labels(lang)
    figure = Figure(figsize=(WIDTH_INCHES, 2.4), layout="constrained")
    axes = figure.subplots()
    rates = [report.total.conversion, report.without_followup.rate]
    bars = axes.barh([1, 0], [rate.percent or 0 for rate in rates], 0.6, color=[GREEN, GREY])
    axes.bar_label(bars, labels=[_rate_text(rate, lang) for rate in rates], padding=3, fontsize=9)
    axes.set_yticks([1, 0], [words["with"], words["without"]])
    axes.set_xlim(0, 100)
    axes.set_xlabel(words["rate"])
    axes.spines[["top", "right"]].set_visible(False)
    return figure


CHARTS: dict[str, Callable[[Report, str], Figure]] = {
    "models": models_chart,
    "steps": steps_chart,
    "funnel": funnel_chart,
    "months": months_chart,
    "comparison": comparison_chart,
}


def _save(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    # text stays text in the SVG: selectable, searchable, editable once pasted in a presentation
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dolirelance"}):
        figure.savefig(buffer, format=fmt, dpi=150, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def chart_svg(name: str, report: Report, lang: str) -> bytes:
    return _save(CHARTS[name](report, lang), "svg")


def chart_png(name: str, report: Report, lang: str) -> bytes:
    return _save(CHARTS[name](report, lang), "png")
