"""The generic MLPerf LoadGen harness that mlenv runs inside a materialized environment.

It imports only the standard library, numpy, ``mlperf_loadgen``, the backend's engine and, for
the tasks that need them, Pillow (image decoding) and pycocotools (mAP) — each only when a run
uses it — and only with relative imports inside itself: the CLI runs it as a top-level package
named ``mlenv_harness`` with the environment's interpreter (``python -m mlenv_harness --config
run.json``, see ``__main__.py``).

Layout: ``config/`` (the run config), ``data/`` (named preprocessors, the QSL cache),
``metrics/`` (named metrics), ``backends/`` (one module per engine), ``loadgen/`` (SUT, QSL,
dispatch, compliance, progress), ``results/`` (LoadGen's logs, result files, the histogram),
``registry.py`` (the names), ``warmup.py`` and ``pipeline.py`` (one run, start to end).
"""
