"""Status sources: where jiracampaign learns how BPS runs are doing (the PanDA monitor; more by plug-in).

The registry of sources is `jiracampaign.plugins`; the interface is `jiracampaign.sources.base.StatusSource`.
"""
