"""Inline SVG pictures: escaped text, folded bars, empty counts, circuits drawn or capped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from qiskit import QuantumCircuit

from qiskit_aer_jobstore import pictures

HOSTILE = "<script>alert(1)</script>"
NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    """The SVG parsed as XML: escaping mistakes make it fail to parse or grow elements."""
    return ET.fromstring(svg)


def _bars(svg: str) -> list[ET.Element]:
    return [r for r in _parse(svg).iter(f"{NS}rect") if r.find(f"{NS}title") is not None]


def test_histogram_escapes_bitstrings_and_title():
    svg = pictures.counts_histogram_svg({HOSTILE: 3, "01": 5}, title=HOSTILE)
    assert "<script" not in svg
    root = _parse(svg)
    assert not list(root.iter(f"{NS}script")) and not list(root.iter("script"))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert HOSTILE in texts  # shown as text, both as title and as an outcome label
    assert texts.count(HOSTILE) == 2


def test_histogram_folds_past_max_bars_into_other():
    counts = {format(i, "06b"): i + 1 for i in range(64)}
    svg = pictures.counts_histogram_svg(counts, max_bars=8)
    bars = _bars(svg)
    assert len(bars) == 8
    labels = [t.text for t in _parse(svg).iter(f"{NS}text")]
    assert "other" in labels
    # the 7 largest kept, in bitstring order; the rest summed
    assert [b.find(f"{NS}title").text for b in bars][-1] == f"other: {sum(range(1, 58))}"
    assert "111111" in labels and "000000" not in labels


def test_histogram_without_folding_keeps_every_outcome_in_order():
    svg = pictures.counts_histogram_svg({"11": 1, "00": 2, "10": 3})
    assert [b.find(f"{NS}title").text for b in _bars(svg)] == ["00: 2", "10: 3", "11: 1"]


@pytest.mark.parametrize(
    "draw",
    [
        lambda: pictures.counts_histogram_svg({}, title=HOSTILE),
        lambda: pictures.overlaid_histogram_svg({}, {}),
    ],
)
def test_empty_counts_give_a_small_message(draw):
    svg = draw()
    assert "no counts" in svg and "<script" not in svg
    _parse(svg)


def test_sparkline_of_empty_counts_is_empty_and_escapes_its_tooltip():
    assert pictures.sparkline_svg({}) == ""
    svg = pictures.sparkline_svg({HOSTILE: 2, "1": 1})
    assert "<script" not in svg
    assert _parse(svg).find(f"{NS}title").text.startswith(HOSTILE)


def test_overlaid_histogram_shows_both_sides_as_probabilities():
    svg = pictures.overlaid_histogram_svg(
        {"00": 50, "11": 50}, {"00": 40, "01": 20, "11": 40}, labels=(HOSTILE, "B")
    )
    assert "<script" not in svg
    tips = [b.find(f"{NS}title").text for b in _bars(svg)]
    assert f"01: 0 ({HOSTILE})" in tips and "01: 0.2 (B)" in tips
    assert "00: 0.5 (" + HOSTILE + ")" in tips


def test_overlaid_histogram_folds_both_sides_alike():
    a = {format(i, "05b"): 1 for i in range(32)}
    b = {format(i, "05b"): 2 for i in range(32)}
    svg = pictures.overlaid_histogram_svg(a, b, max_bars=5)
    tips = [t.find(f"{NS}title").text for t in _bars(svg)]
    assert len(tips) == 10
    assert tips[-2] == "other: 0.875 (A)" and tips[-1] == "other: 0.875 (B)"


def _bell(name: str = "bell") -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2, name=name)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def test_circuit_svg_is_inline_and_carries_no_text_from_the_circuit():
    circuit = _bell(HOSTILE)
    circuit.rz(0.25, 0)
    circuit.append(QuantumCircuit(1, name=HOSTILE).to_gate(label=HOSTILE), [1])
    svg = pictures.circuit_svg(circuit, max_width_px=500)
    assert svg is not None and svg.startswith("<svg")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<script" not in svg
    assert re.search(r"max-width:\d+px", svg)
    width = int(re.search(r"max-width:(\d+)px", svg).group(1))
    assert 0 < width <= 500
    _parse(svg)


def test_deep_circuits_are_cut_and_say_so():
    circuit = QuantumCircuit(3)
    for i in range(120):
        circuit.h(i % 3)
    text = pictures.circuit_text(circuit, max_layers=10)
    assert "(first 10 of 40 layers drawn)" in text
    shown, depth = pictures._first_layers(circuit, 10)
    assert depth == 40 and len(shown.data) == 30
    svg = pictures.circuit_svg(circuit, max_layers=10)
    assert svg is not None and "<path" in svg


def test_too_wide_circuits_are_not_drawn():
    assert pictures.circuit_svg(QuantumCircuit(pictures.CIRCUIT_MAX_QUBITS + 1)) is None
