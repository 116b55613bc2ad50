"""Private implementation details; nothing here is public API."""
