"""The JIRA tracker (Cloud and Data Center): client, tracker, workflow, wiki markup, setup, credentials."""
