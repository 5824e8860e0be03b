# Injected failure of another kind: the task raises MemoryError ("out of memory") for one data ID.
# Use with: -C isr:examples/rubin/fail_memory.py (pipetask), or in BPS extraQgraphOptions.
# fail_exception takes any importable exception type by its full name.
config.fail_condition = "exposure = 2002 AND detector = 1"  # noqa: F821 (pex_config override file)
config.fail_exception = "builtins.MemoryError"  # noqa: F821
