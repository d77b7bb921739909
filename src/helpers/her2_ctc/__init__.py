"""HER2-amplified CTC screening and T-DM1 (CirCe T-DM1, NCT01975142): the trial's analysis glue."""
