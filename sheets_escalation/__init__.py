"""sheets-escalation: escalation policy engine for support logs kept in spreadsheets."""

__version__ = "0.1.0"
