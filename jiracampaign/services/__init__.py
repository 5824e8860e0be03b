"""One module per verb; each entry function returns a result object the CLI renders."""
