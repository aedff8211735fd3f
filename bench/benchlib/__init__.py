"""Strata's benchmark harness: Strata vs redis-server, same client, same run."""
