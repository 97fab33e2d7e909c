"""Where the fleet's telemetry comes from: the JSON files (the embedded default) or Prometheus.

A metrics source answers one question, the readings of the devices in scope over the trend window,
as the `HealthRecord`s the rules already judge, with the gaps it could not fill and what it asked
(source, time range, step, number of HTTP queries): `base.MetricsSource`, whose embedded default is
`base.FileMetrics`. mapping.py reads the PromQL mapping file; prometheus.py asks Prometheus' HTTP API.
"""
