"""Anomaly detection: learned per-series baselines, scored for many series at once.

``model`` trains and scores (the one code path the rule, ``anomaly score`` and ``anomaly
evaluate`` share); ``stream`` replays a series row by row without lookahead; ``nab`` scores
detections like the Numenta Anomaly Benchmark; ``corpus`` reads labelled CSV series;
``persist`` saves models; ``explain`` writes the page text.
"""
