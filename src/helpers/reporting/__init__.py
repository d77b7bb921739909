"""Reporting: the HTML report index (and, later, formatted tables and exports)."""
