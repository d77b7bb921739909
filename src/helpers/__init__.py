"""Shared, tested analysis logic for the HER2-CTC/T-DM1 and everolimus/NK trials."""

__version__ = "0.1.0"
