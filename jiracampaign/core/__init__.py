"""The campaign model, typed records, run states and facts, known errors and tracker-neutral documents.

Knows nothing of JIRA, PanDA, click or markup.
"""
