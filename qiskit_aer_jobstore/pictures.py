"""Pictures of jobs as inline SVG: counts histograms, overlaid histograms, sparklines, circuits.

Pure rendering: strings in, SVG text out, nothing read from a store, so the notebook, the
command line and a web app draw the same pictures. Every piece of text that comes from data
(bitstrings, names, titles) is escaped with :func:`html.escape`; the circuit drawing is made
by matplotlib with its glyphs as paths, so no text from a circuit reaches the page as markup.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CIRCUIT_MAX_LAYERS",
    "CIRCUIT_MAX_QUBITS",
    "OTHER",
    "circuit_svg",
    "circuit_text",
    "counts_histogram_svg",
    "fold_counts",
    "overlaid_histogram_svg",
    "sparkline_svg",
]

OTHER = "other"
# A circuit deeper than this is drawn up to this many layers (and the picture says so).
CIRCUIT_MAX_LAYERS = 40
# Wider circuits are not drawn at all: a picture with hundreds of wires tells nobody anything.
CIRCUIT_MAX_QUBITS = 64
_COLOURS = ("#4c72b0", "#dd8452")
_FONT = "font-family:sans-serif;font-size:11px"
# pyplot-free drawing still shares matplotlib's font cache and rcParams: one drawing at a time.
_DRAWING = threading.Lock()


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _outcome_key(outcome: str) -> tuple[int, str]:
    # "10" after "9" for hex keys; equal-length bitstrings in their usual order
    return (len(outcome), outcome)


def fold_counts(
    counts: Mapping[str, float], max_bars: int = 32, *, order: str = "outcome"
) -> list[tuple[str, float]]:
    """``counts`` as ``(outcome, value)`` bars: all of them when there are at most ``max_bars``,
    else the ``max_bars - 1`` largest and one :data:`OTHER` bar holding the rest.

    Args:
        counts: outcome -> count (or probability).
        max_bars: the most bars drawn (at least 2 when folding).
        order: ``"outcome"`` (bitstring order, ``other`` last) or ``"count"`` (largest first).
    """
    items = [(str(k), v) for k, v in counts.items()]
    max_bars = max(int(max_bars), 2)
    if len(items) > max_bars:
        items.sort(key=lambda kv: (-kv[1], _outcome_key(kv[0])))
        kept, rest = items[: max_bars - 1], items[max_bars - 1 :]
        items = kept
        folded = [(OTHER, sum(v for _, v in rest))]
    else:
        folded = []
    if order == "count":
        items.sort(key=lambda kv: (-kv[1], _outcome_key(kv[0])))
    else:
        items.sort(key=lambda kv: _outcome_key(kv[0]))
    return items + folded


def _empty_svg(message: str, width: int = 240, height: int = 40) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='aer-empty' width='{width}' "
        f"height='{height}' role='img'><text x='8' y='{height // 2 + 4}' style='{_FONT};"
        f"fill:#777'>{_esc(message)}</text></svg>"
    )


def _tick(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"


def _bars_svg(
    outcomes: Sequence[str],
    series: Sequence[Sequence[float]],
    *,
    title: str | None,
    y_label: str,
    legend: Sequence[str] = (),
) -> str:
    """Grouped vertical bars: one group per outcome, one bar per series."""
    groups = len(outcomes)
    per = len(series)
    bar = 14 if per == 1 else 9
    group_w = bar * per + 8
    longest = max((len(o) for o in outcomes), default=1)
    label_h = min(7 * longest, 160) + 18  # rotated outcome labels, then the axis title
    left, top, plot_h = 54, 28 if title else 12, 160
    width = max(left + group_w * groups + 16, left + 120 * len(legend))
    height = top + plot_h + label_h + (16 if legend else 0)
    peak = max((v for s in series for v in s), default=0) or 1
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='aer-histogram' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' role='img' style='{_FONT}'>"
    ]
    if title:
        parts.append(f"<text x='{left}' y='16' style='font-weight:bold'>{_esc(title)}</text>")
    base = top + plot_h
    for frac in (0, 0.5, 1):
        y = base - frac * plot_h
        parts.append(
            f"<line x1='{left - 4}' x2='{width - 12}' y1='{y:.1f}' y2='{y:.1f}' "
            f"stroke='#ddd' stroke-width='1'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{_tick(peak * frac)}</text>"
        )
    parts.append(
        f"<text transform='translate(12,{top + plot_h / 2:.0f}) rotate(-90)' "
        f"text-anchor='middle'>{_esc(y_label)}</text>"
    )
    for g, outcome in enumerate(outcomes):
        x0 = left + g * group_w + 4
        for s, values in enumerate(series):
            value = values[g]
            h = plot_h * value / peak
            tip = f"{outcome}: {_tick(value)}" + (f" ({legend[s]})" if legend else "")
            parts.append(
                f"<rect x='{x0 + s * bar}' y='{base - h:.1f}' width='{bar - 1}' "
                f"height='{h:.1f}' fill='{_COLOURS[s % 2]}'><title>{_esc(tip)}</title></rect>"
            )
        cx = x0 + bar * per / 2
        parts.append(
            f"<text transform='translate({cx:.1f},{base + 10}) rotate(-60)' "
            f"text-anchor='end'>{_esc(outcome)}</text>"
        )
    parts.append(
        f"<text x='{left + group_w * groups / 2:.0f}' y='{base + label_h - 4}' "
        f"text-anchor='middle'>outcome</text>"
    )
    for s, name in enumerate(legend):
        x = left + s * 120
        y = height - 6
        parts.append(
            f"<rect x='{x}' y='{y - 9}' width='10' height='10' fill='{_COLOURS[s % 2]}'/>"
            f"<text x='{x + 14}' y='{y}'>{_esc(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def counts_histogram_svg(
    counts: dict[str, int], *, title: str | None = None, max_bars: int = 32
) -> str:
    """A histogram of ``counts`` as an inline SVG string.

    Bars are in bitstring order; past ``max_bars`` outcomes the largest ``max_bars - 1`` are
    drawn and the rest summed into one ``other`` bar. Each bar's tooltip gives its count.

    Args:
        counts: outcome -> count.
        title: drawn above the bars (escaped).
        max_bars: the most bars drawn.
    """
    if not counts:
        return _empty_svg(f"{title}: no counts" if title else "no counts")
    bars = fold_counts(counts, max_bars)
    return _bars_svg([o for o, _ in bars], [[v for _, v in bars]], title=title, y_label="counts")


def _probabilities(counts: Mapping[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    return {str(k): (v / total if total else 0.0) for k, v in counts.items()}


def overlaid_histogram_svg(
    a: dict, b: dict, *, labels: Sequence[str] = ("A", "B"), max_bars: int = 32
) -> str:
    """Two distributions side by side per outcome, as probabilities, in one inline SVG.

    Outcomes are those of either; past ``max_bars`` the outcomes most likely in either are
    kept and the rest summed into ``other`` for both.

    Args:
        a: the first counts (or probabilities).
        b: the second.
        labels: their names in the legend (escaped).
        max_bars: the most outcome groups drawn.
    """
    if not a and not b:
        return _empty_svg("no counts on either side")
    pa, pb = _probabilities(a), _probabilities(b)
    # fold on the larger of the two probabilities: an outcome only one side has stays visible
    merged = {o: max(pa.get(o, 0.0), pb.get(o, 0.0)) for o in pa | pb}
    folded = len(merged) > max(int(max_bars), 2)
    shown = [o for o, _ in fold_counts(merged, max_bars)]
    if folded:
        shown.pop()  # the "other" bar: summed per side below

    def column(p: dict[str, float]) -> list[float]:
        values = [p.get(o, 0.0) for o in shown]
        if folded:
            kept = set(shown)
            values.append(sum(v for o, v in p.items() if o not in kept))
        return values

    return _bars_svg(
        shown + ([OTHER] if folded else []),
        [column(pa), column(pb)],
        title=None,
        y_label="probability",
        legend=[str(label) for label in labels[:2]],
    )


def sparkline_svg(counts: dict, *, width: int = 80, height: int = 16) -> str:
    """A tiny bar chart of ``counts`` (no labels; the tooltip names the top outcomes), for a
    table cell."""
    if not counts:
        return ""
    bars = fold_counts(counts, max(2, width // 3))
    peak = max(v for _, v in bars) or 1
    step = width / len(bars)
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    tip = ", ".join(f"{k}: {v}" for k, v in top) + (" …" if len(counts) > 3 else "")
    rects = "".join(
        f"<rect x='{i * step:.1f}' y='{height - height * v / peak:.1f}' "
        f"width='{max(step - 1, 1):.1f}' height='{height * v / peak:.1f}' fill='{_COLOURS[0]}'/>"
        for i, (_, v) in enumerate(bars)
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='aer-sparkline' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}'><title>{_esc(tip)}</title>"
        f"{rects}</svg>"
    )


def _first_layers(circuit: Any, layers: int) -> tuple[Any, int]:
    """The circuit's instructions in its first ``layers`` layers, and its depth."""
    level: dict[Any, int] = {}
    kept = circuit.copy_empty_like()
    depth = 0
    for instruction in circuit.data:
        bits = list(instruction.qubits) + list(instruction.clbits)
        at = max((level.get(b, 0) for b in bits), default=0) + 1
        for b in bits:
            level[b] = at
        depth = max(depth, at)
        if at <= layers:
            kept.append(instruction)
    return kept, depth


def circuit_text(circuit: Any, *, max_layers: int = CIRCUIT_MAX_LAYERS) -> str:
    """The circuit drawn as text (Qiskit's text drawer, folded at 100 columns), up to
    ``max_layers`` layers, with a line saying when it was cut."""
    shown, depth = _first_layers(circuit, max_layers)
    text = str(shown.draw(output="text", fold=100))
    if depth > max_layers:
        text += f"\n(first {max_layers} of {depth} layers drawn)"
    return text


_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.S)


def circuit_svg(
    circuit: Any, *, max_width_px: int = 900, max_layers: int = CIRCUIT_MAX_LAYERS
) -> str | None:
    """The circuit drawn by Qiskit's matplotlib drawer, as an inline SVG string.

    Drawn on a bare ``matplotlib.figure.Figure`` (no pyplot, no GUI backend: safe in a server
    thread), scaled to at most ``max_width_px`` wide. A circuit deeper than ``max_layers`` is
    drawn up to that layer, and the picture says so.

    Returns:
        The SVG, or ``None`` when matplotlib (or Qiskit's drawer's own requirements) is missing
        or the circuit is too wide to draw (more than :data:`CIRCUIT_MAX_QUBITS` qubits): then
        show :func:`circuit_text` in an escaped ``<pre>``.
    """
    if circuit.num_qubits > CIRCUIT_MAX_QUBITS:
        return None
    try:
        # optional (the [plot] extra), and slow to import
        from matplotlib import rc_context
        from matplotlib.figure import Figure
        from qiskit.visualization import circuit_drawer
    except ImportError:
        return None
    import io

    shown, depth = _first_layers(circuit, max_layers)
    phase = shown.global_phase
    # the drawer writes the global phase through pyplot; it is written below instead
    shown.global_phase = 0
    note = f"first {max_layers} of {depth} layers drawn" if depth > max_layers else ""
    # glyphs as paths whatever the user's rcParams: no text of the circuit in the markup
    with _DRAWING, rc_context({"svg.fonttype": "path", "svg.hashsalt": "aer-jobstore"}):
        figure = Figure(figsize=(10, 4))
        axes = figure.add_axes((0, 0, 1, 1))
        try:
            circuit_drawer(shown, output="mpl", ax=axes, fold=-1)
        except Exception:  # the drawer's optional needs (pylatexenc) or a gate it cannot draw
            return None
        left, right = axes.get_xlim()
        bottom, top = axes.get_ylim()
        # fonts were sized for 10 inches: keep that width, take the drawing's proportions, and
        # let the page show it at the size Qiskit's drawer would (0.836 in a unit, 96 px an in)
        figure.set_size_inches(10, max(10 * (top - bottom) / (right - left), 0.5))
        natural_px = (right - left) * 0.8361111 * 96
        captions = [
            text
            for text in (
                note,
                f"global phase: {float(phase):.4g}" if not _is_zero(phase) else "",
            )
            if text
        ]
        if captions:
            axes.set_title("; ".join(captions), fontsize=9, loc="left")
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # no XML declaration or doctype inside HTML
    root = _SVG_ROOT.search(svg)
    if root is None:
        return None
    tag = re.sub(r'\s(width|height)="[^"]*"', "", root.group(0))
    tag = tag.replace(
        "<svg",
        f"<svg class='aer-circuit' width='100%' "
        f"style='max-width:{int(min(natural_px, max_width_px))}px'",
        1,
    )
    return svg[: root.start()] + tag + svg[root.end() :]


def _is_zero(phase: Any) -> bool:
    try:
        return abs(float(phase)) < 1e-12
    except (TypeError, ValueError):  # a parameterised phase
        return False
