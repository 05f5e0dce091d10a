"""Streams, meetings and actions live here (see the stream-coordination issue)."""
