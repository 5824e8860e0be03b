# The demo's injected failure: consolidateVisitSummary (step2) raises ValueError for one visit.
# Visit 1003 is the third visit of the first night in any repository examples/rubin/build_repo.py makes.
# Passed to the graph builder by the spec: extraQgraphOptions "-C consolidateVisitSummary:<this file>".
config.fail_condition = "visit = 1003"  # noqa: F821 (pex_config override file)
