"""``aer-jobs diff A B``: two stored jobs compared (``StoredAerJob.diff``)."""

from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.table import Table
from rich.text import Text

from ..diffview import JobDiff
from .base import cli, console, echo_json, json_option, open_store, resolved

_COLOURS = {
    "equal": "green",
    "within precision": "green",
    "within shot noise": "green",
    "differs": "red",
    "only in A": "yellow",
    "only in B": "yellow",
}


def _number(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def experiments_table(diff: JobDiff) -> Table:
    """Each experiment's verdict and distances as a table; registers and saved data as rows
    under their experiment."""
    table = Table(
        "#",
        "experiment",
        "verdict",
        "tvd",
        "shot noise",
        "hellinger fidelity",
        "max |difference|",
        box=box.SIMPLE_HEAD,
        title="results",
        title_justify="left",
    )

    def row(index: str, name: str, entry: dict[str, Any], largest: Any = None) -> None:
        verdict = entry["verdict"]
        table.add_row(
            index,
            Text(name),
            Text(verdict, style=_COLOURS.get(verdict, "")),
            _number(entry.get("tvd"), 3),
            _number(entry.get("shot_noise_tvd"), 3),
            _number(entry.get("hellinger_fidelity"), 5),
            _number(largest, 3),
        )

    for e in diff.experiments:
        row(str(e["index"]), str(e["name"]), e, e.get("max_abs_difference"))
        for name, entry in e.get("registers", {}).items():
            row("", f"  register {name}", entry)
        for key, entry in e.get("data", {}).items():
            row("", f"  {key}", entry, entry.get("max_abs_difference"))
    return table


@cli.command()
@click.argument("job_a")
@click.argument("job_b")
@json_option
def diff(job_a: str, job_b: str, as_json: bool) -> None:
    """Compare two jobs (ids or unique prefixes): circuits, parameter binds, options, noise
    model, versions, and each experiment's results.

    Counts are compared by their total variation distance (tvd) and Hellinger fidelity,
    beside the tvd two samples of one distribution show at those shots ("shot noise"): a tvd
    under 3 times that is "within shot noise", above it "differs". Saved states and
    expectation values are compared by their largest absolute difference. A job not signed
    by this store's key is read from its portable copies, never unpickled.
    """
    store = open_store()
    first = store.get(resolved(store, job_a))
    second = store.get(resolved(store, job_b))
    found = first.diff(second)
    if as_json:
        echo_json(found.to_dict())
        return
    out = console()
    colour = "green" if found.equal else "red" if found.results_verdict == "differs" else "yellow"
    out.print(Text(f"A {found.a}\nB {found.b}"))
    out.print(Text(found.verdict, style=f"bold {colour}"))
    inputs, _, _ = "\n".join(found.lines()[3:]).partition("\nresults")
    out.print(Text(inputs))
    for side, why in sorted(found.results_error.items()):
        out.print(Text(f"{side.upper()} has no results: {why}", style="yellow"))
    if found.experiments:
        out.print(experiments_table(found))
