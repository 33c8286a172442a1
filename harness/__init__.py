"""The generic MLPerf LoadGen harness that mlenv runs inside a materialized environment.

It imports only the standard library, numpy, ``mlperf_loadgen`` and the backend, and only with
relative imports inside itself: the CLI runs it as a top-level package named ``mlenv_harness``
with the environment's interpreter (``python -m mlenv_harness --config run.json``, see
``__main__.py``).
"""
