"""Result models of the services rendered as files for people (the HTML report); used by the command line."""
