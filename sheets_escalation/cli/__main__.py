"""``python -m sheets_escalation.cli``: the same as the ``sheets-escalation`` command."""

from sheets_escalation.cli import main

main()
