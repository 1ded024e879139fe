"""Read models built from the event log, their runners, and the queries that serve GETs."""
