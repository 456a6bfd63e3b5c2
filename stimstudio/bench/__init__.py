"""The benchmark suite behind `stimstudio bench` (suite.py: the sections and the driver;
sizes.py: full, quick and smoke sizes; report.py: BENCHMARKS.md). Not tests: goals are
reported met or missed with their numbers; the test command only runs every section at smoke
size. Imports nothing here, so that `stimstudio.bench.sizes` stays light."""
