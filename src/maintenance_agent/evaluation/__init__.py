"""The published evaluation of the rules' decisions on labelled, noisy fleets (`python3 tools/dev.py eval`).

Not a test: it prints precision and recall per finding kind and what the plan did with each device,
and writes them as JSON. scenarios.py builds devices, suite.py the families, score.py scores them.
"""
