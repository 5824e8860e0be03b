"""Code run with the Rubin stack's interpreter (see `jiracampaign.sources.bps.bridge`).

Every module here imports only the standard library and ``lsst``, never jiracampaign: the helper
runs them as plain files in the stack's environment, where jiracampaign is not installed.
"""
