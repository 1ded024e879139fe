"""The write side: one method per use case, loading aggregates and saving their events."""
