"""Generic clinical-trial endpoint tools, reusable in any trial: binomial rates, RECIST 1.1,
Simon two-stage designs, survival, safety, statistics and efficacy glue. Nothing here knows
either trial; this layer imports only the shared base (config, io, checks, results).
"""
