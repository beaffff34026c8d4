"""The test suites (main, browser/, hub/); shared code is in tests.helpers."""
