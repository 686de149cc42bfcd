"""The `parcours` command line: run, simulate, report, operate."""
