"""BPS's own view of runs: the Rubin stack's WMS plug-ins and quantum provenance, through `bridge`.

ctrl_bps, its plug-ins and pipe_base need Python >= 3.12 and live in the stack's environment, not
necessarily in ours. `bridge.StackBridge` calls the code in `stack/` in this process when the stack
is importable, else in a helper process run by the stack's interpreter, exchanging JSON. Only the
modules in `stack/` import ``lsst``; they import nothing of jiracampaign.
"""
