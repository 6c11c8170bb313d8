"""``JobDiff``: what :func:`.diff.diff_jobs` found, as JSON, as text and as HTML for Jupyter.

Every value shown comes from a job's archive: HTML escapes all of it, and the histograms are
drawn by :mod:`.pictures` (escaped too).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .pictures import overlaid_histogram_svg

__all__ = ["HISTOGRAMS", "VERDICTS", "JobDiff", "clip"]

# Overlaid histograms drawn in a diff's HTML (the first experiments with counts).
HISTOGRAMS = 4
# A comparison's verdicts, best first: a set of them is as good as its worst.
VERDICTS = ("equal", "within precision", "within shot noise", "differs", "only in A", "only in B")
_GOOD, _BAD = "#2e7d32", "#c62828"


def clip(text: str, width: int = 120) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


@dataclass
class JobDiff:
    """Two stored jobs compared (``StoredAerJob.diff(other)``; ``aer-jobs diff A B``).

    Attributes:
        a: the first job's id ("A").
        b: the second job's id ("B").
        jobs: each side's manifest facts (backend, status, shots, method, seed, ...).
        circuits: per circuit: ``index``, ``name``, ``equal`` and, if not, ``changes``
            (``num_qubits``, ``depth``, ``gate_counts`` ``{gate: [A, B]}``, ``parameters``,
            ``metadata``, the first changed ``instructions``).
        circuits_error: why the circuits could not be read, else None.
        parameter_binds: ``{"equal": bool}`` (and both sides as text if not).
        options: ``run_options``, ``backend_options`` (and a primitive job's
            ``primitive_options``): keys ``added`` (in B only), ``removed`` and ``changed``.
        noise_model: ``equal``, and which errors were ``added``, ``removed`` or ``changed``
            (by where they act, with a one-line summary of each).
        versions: package versions ``added`` / ``removed`` / ``changed``.
        experiments: per experiment: ``index``, ``name``, ``tvd``, ``hellinger_fidelity``,
            ``shot_noise_tvd``, ``shots``, ``registers`` (a sampler's, each compared alike),
            ``data`` (saved states, ``evs``...: ``max_abs_difference``) and ``verdict``:
            ``equal``, ``within shot noise``, ``within precision``, ``differs``, ``only in A``
            or ``only in B``.
        results_error: why a side has no results (``{"a": ..., "b": ...}``), else empty.
    """

    a: str
    b: str
    jobs: dict[str, dict[str, Any]]
    circuits: list[dict[str, Any]]
    circuits_error: str | None
    parameter_binds: dict[str, Any]
    options: dict[str, dict[str, Any]]
    noise_model: dict[str, Any]
    versions: dict[str, Any]
    experiments: list[dict[str, Any]]
    results_error: dict[str, str]
    counts_pairs: list[tuple[dict | None, dict | None]] = field(default_factory=list, repr=False)

    # -- verdicts ----------------------------------------------------------------------
    @property
    def same_inputs(self) -> bool:
        """Whether both jobs ran the same circuits, binds, options and noise model (package
        versions are not inputs: they are reported, not compared)."""
        return (
            self.circuits_error is None
            and all(c["equal"] for c in self.circuits)
            and self.parameter_binds["equal"]
            and not any(v for o in self.options.values() for v in o.values())
            and self.noise_model["equal"]
        )

    @property
    def results_verdict(self) -> str:
        """The results' verdict, the worst of the experiments': ``equal``, ``within shot
        noise``, ``within precision``, ``differs`` (or ``only in A`` / ``only in B``), or
        ``not comparable`` when a side has no result."""
        if self.results_error:
            return "not comparable"
        return max((e["verdict"] for e in self.experiments), key=VERDICTS.index, default="equal")

    @property
    def equal(self) -> bool:
        """Same inputs and results equal, experiment by experiment."""
        return self.same_inputs and self.results_verdict == "equal"

    @property
    def verdict(self) -> str:
        """One line: ``"inputs same; results equal"``, ``"inputs differ; results differ"``,
        ``"inputs same; results within shot noise"``..."""
        results = self.results_verdict.replace("differs", "differ")
        return f"inputs {'same' if self.same_inputs else 'differ'}; results {results}"

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values (what ``aer-jobs diff --json`` prints)."""
        return {
            "a": self.a,
            "b": self.b,
            "equal": self.equal,
            "same_inputs": self.same_inputs,
            "verdict": self.verdict,
            "jobs": self.jobs,
            "circuits": self.circuits,
            "circuits_error": self.circuits_error,
            "parameter_binds": self.parameter_binds,
            **self.options,
            "noise_model": self.noise_model,
            "versions": self.versions,
            "experiments": self.experiments,
            "results_error": self.results_error,
        }

    # -- for people ------------------------------------------------------------------------
    def lines(self) -> list[str]:
        """The diff as lines of text (``str(diff)``)."""
        out = [f"A {self.a}", f"B {self.b}", self.verdict]
        facts = [
            f"  {k}: {_fmt(self.jobs['a'].get(k))} -> {_fmt(self.jobs['b'].get(k))}"
            for k in self.jobs["a"]
            if self.jobs["a"].get(k) != self.jobs["b"].get(k)
        ]
        if facts:
            out += ["jobs", *facts]
        out.append("circuits" + (f": {self.circuits_error}" if self.circuits_error else ""))
        for c in self.circuits:
            out.append(f"  {c['index']} {c['name']}: {'equal' if c['equal'] else 'changed'}")
            changes = c.get("changes", {})
            # the changed instructions last, under their count
            for key, value in sorted(changes.items(), key=lambda kv: kv[0] == "instructions"):
                if key == "instructions":
                    out += [f"      #{i['index']}: {i['a']} -> {i['b']}" for i in value]
                else:
                    out.append(f"    {key}: {_change(value)}")
        if not self.parameter_binds["equal"]:
            binds = self.parameter_binds
            out.append(f"parameter binds differ: {binds['a']} -> {binds['b']}")
        for title, changes in self.options.items():
            out += _changes_lines(title, changes)
        noise = self.noise_model
        if noise["equal"]:
            out.append("noise model: same")
        else:
            out.append("noise model: differs")
            if "a" in noise:
                out.append(f"  {noise['a']} -> {noise['b']}")
            out += _changes_lines("", noise, indent="  ")[1:]
            if "basis_gates" in noise:
                out.append(f"  basis gates: {noise['basis_gates'][0]} -> {noise['basis_gates'][1]}")
        out += _changes_lines("versions", self.versions)
        out.append("results")
        for side, why in sorted(self.results_error.items()):
            out.append(f"  {side.upper()} has none: {why}")
        for e in self.experiments:
            out.append(f"  {e['index']} {e['name']}: {e['verdict']}{_measures(e)}")
            for name, r in e.get("registers", {}).items():
                out.append(f"    register {name}: {r['verdict']}{_measures(r)}")
            for key, d in e.get("data", {}).items():
                out.append(
                    f"    {key}: {d['verdict']}, max |difference| "
                    f"{_fmt(d['max_abs_difference'], 3)}"
                )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<JobDiff {self.a} vs {self.b}: {self.verdict}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = _GOOD if self.equal else _BAD
        text = esc("\n".join(self.lines()[3:]))
        pictures = []
        drawn = 0
        for e, (ca, cb) in zip(self.experiments, self.counts_pairs):
            if drawn == HISTOGRAMS or not (ca or cb):
                continue
            drawn += 1
            pictures.append(
                f"<figure style='display:inline-block;margin:4px'>"
                f"{overlaid_histogram_svg(ca or {}, cb or {}, labels=('A', 'B'))}"
                f"<figcaption>{esc(str(e['index']))} {esc(str(e['name']))}: "
                f"{esc(e['verdict'])}{esc(_measures(e))}</figcaption></figure>"
            )
        more = sum(1 for ca, cb in self.counts_pairs if ca or cb) - drawn
        note = (
            f"<p>{more} more experiments with counts (see the text above)</p>" if more > 0 else ""
        )
        return (
            "<div class='aer-diff' style='border:1px solid #ccc;border-radius:6px;"
            "padding:6px 10px'>"
            f"<b>JobDiff</b> A <code>{esc(self.a)}</code> B <code>{esc(self.b)}</code> "
            f"<span style='color:{colour};font-weight:bold'>{esc(self.verdict)}</span>"
            f"<pre style='white-space:pre-wrap'>{text}</pre>{''.join(pictures)}{note}</div>"
        )


def _change(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2:
        return f"{_fmt(value[0])} -> {_fmt(value[1])}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_change(v)}" for k, v in value.items())
    return _fmt(value)


def _changes_lines(title: str, changes: dict[str, Any], indent: str = "  ") -> list[str]:
    """``added`` / ``removed`` / ``changed`` keys as lines under ``title`` (none if none)."""
    lines = [f"{indent}+ {k}: {v}" for k, v in changes.get("added", {}).items()]
    lines += [f"{indent}- {k}: {v}" for k, v in changes.get("removed", {}).items()]
    lines += [f"{indent}~ {k}: {a} -> {b}" for k, (a, b) in changes.get("changed", {}).items()]
    return [f"{title}: {'differ' if lines else 'same'}", *lines]


def _measures(entry: dict[str, Any]) -> str:
    if entry.get("tvd") is None:
        return ""
    return (
        f" (tvd {_fmt(entry['tvd'], 3)}, shot noise ~{_fmt(entry['shot_noise_tvd'], 3)}, "
        f"hellinger fidelity {_fmt(entry['hellinger_fidelity'], 5)})"
    )
