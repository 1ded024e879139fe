"""Imports of time entries from the CSV exports of other trackers (Toggl, Clockify, ...)."""
