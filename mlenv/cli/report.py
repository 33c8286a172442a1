"""`mlenv reproduce` on the console: the badge table and the machines table (the verdicts are
`mlenv.ops.verdicts`, the report pages `mlenv.ops.reportview`)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from mlenv.ops.reportview import HARDWARE, machine_rows
from mlenv.ops.verdicts import Reproduction


def badge_table(rep: Reproduction) -> Table:
    """One row per badge: its name, yes/no, and why."""
    table = Table(title=f"reproduction of {escape(rep.bundle)}", title_justify="left")
    for column in ("badge", "verdict", "why"):
        table.add_column(column)
    for b in rep.badges:
        verdict = "[green]yes[/green]" if b.awarded else "[red]no[/red]"
        table.add_row(b.name, verdict, escape("\n".join(b.reasons)))
    return table


def machines_table(rep: Reproduction) -> Table:
    """CPU model, cores, memory and accelerators of the recording and reproducing machines."""
    table = Table(title="machines", title_justify="left")
    for column in ("", "recorded on", "reproduced on"):
        table.add_column(column)
    labels = {label for _, label in HARDWARE}
    for fact, recorded, here in machine_rows(rep):
        if fact in labels:
            table.add_row(fact, escape(recorded), escape(here))
    return table
