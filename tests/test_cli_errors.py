"""What the CLI prints must stay text: `aforo job explain --plan` through its printing
helper (the plan itself needs a JVM, ~30 s)."""

from __future__ import annotations

from aforo.cli.job import printable


def test_plan_printing_escapes_the_nul_of_chr0_and_keeps_the_layout() -> None:
    plan = "Calc(select=[REGEXP_EXTRACT(a0, '[^\x00]*$', 0) AS q])\n\t+- Exchange\x1b\r\n"
    shown = printable(plan)
    assert shown == "Calc(select=[REGEXP_EXTRACT(a0, '[^\\u0000]*$', 0) AS q])\n\t+- Exchange\\u001b\\u000d\n"
    assert all(c.isprintable() or c in "\n\t" for c in shown)
