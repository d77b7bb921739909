"""Everolimus and NK cells: the trial's analysis glue (NK flow cytometry, granzyme B,
rpS6 western blots, mTOR inhibition).
"""
