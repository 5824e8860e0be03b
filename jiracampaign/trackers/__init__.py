"""Trackers record campaigns as a campaign item and one child item per submission: JIRA, or a local SQLite store.

The registry of trackers is `jiracampaign.plugins`; the interface is `jiracampaign.trackers.base.Tracker`.
"""
