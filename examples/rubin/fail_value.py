# Injected failure: calibrateImage raises ValueError for one visit x detector (the default exception).
# Use with: -C calibrateImage:examples/rubin/fail_value.py (pipetask), or in BPS extraQgraphOptions.
# Edit the data ID to one of your repository (build_repo.py prints the visit ranges per night).
config.fail_condition = "visit = 1003 AND detector = 2"  # noqa: F821 (pex_config override file)
