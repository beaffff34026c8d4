"""Shared test code: clients, servers, cases and fixtures plugins (no tests here)."""
