"""Resilience: retry and circuit breaking, owned by each endpoint's actor."""
