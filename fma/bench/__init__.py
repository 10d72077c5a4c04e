"""Benchmarks behind ``fma bench NAME``: each module here exposes
``add_arguments(parser)`` and ``run(args) -> int``, and a one-line module docstring
used as its help. Benchmarks print figures (ratios measured side by side in one run,
since these machines are noisy) and never fail on time.
"""
