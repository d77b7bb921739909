"""The data layer: the raw-data contract (schemas), cross-table validation, derivation of
analysis datasets, and the synthetic demo cohort (simulator split per trial).
"""
