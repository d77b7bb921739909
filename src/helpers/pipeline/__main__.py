"""``python -m helpers.pipeline``: run the notebooks and build the report."""

from helpers.pipeline.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
