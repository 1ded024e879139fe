"""The `timetracker` command: the composition root wiring settings, HTTP, commands, projections."""
