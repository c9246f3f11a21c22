"""Tests through the HTTP API in process (TestClient): contracts, hostile input, limits."""
