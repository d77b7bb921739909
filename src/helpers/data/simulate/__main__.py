"""``python -m helpers.data.simulate``: write the synthetic demo cohort."""

from helpers.data.simulate.cohort import main

if __name__ == "__main__":
    raise SystemExit(main())
