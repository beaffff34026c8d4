"""The JupyterHub suite (a real Hub and its configurable-http-proxy)."""
