"""Shortcut for the command line: ``python -m helpers.simulate`` runs
``python -m helpers.data.simulate`` (the synthetic demo cohort). Import the simulator from
:mod:`helpers.data.simulate`."""

from helpers.data.simulate.cohort import main

if __name__ == "__main__":
    raise SystemExit(main())
