"""`mlenv reproduce` on the console: the badge table (the verdicts are `mlenv.ops.verdicts`,
the report pages `mlenv.ops.reportview`)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

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
