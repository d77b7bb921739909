"""Pipeline machinery: the notebook runner (``python -m helpers.pipeline``), the kernel
pool, and the benchmark.
"""
