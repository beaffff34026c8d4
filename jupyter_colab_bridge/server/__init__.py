"""The server side: tornado handlers and hooks that translate to the pure protocol.

* :mod:`.base`: what every bridge socket checks before and around the upgrade;
* :mod:`.credentials`: does a request carry a token, does the server accept one;
* :mod:`.handlers`: ``http_over_websocket`` and its ``diagnose`` socket;
* :mod:`.tunnel`: one tunnel socket's requests, in-flight limits and timeouts;
* :mod:`.dispatch`: tunnelled requests served in-process by the server's own app;
* :mod:`.corking`: bursts of small reply frames leave in few TCP segments;
* :mod:`.kernel_channels`: ``proxied_ws`` kernel channels, attached in-process;
* :mod:`.proxied_ws`: ``http_over_websocket/proxied_ws/<path>``, relayed;
* :mod:`.backlog`: what a socket's peer has not read yet (unfinished writes);
* :mod:`.nodelay`: jupyter_server's own WebSocket frames sent at once (``TCP_NODELAY``);
* :mod:`.direct_mode`: CORS for allowlisted pages that call the API directly;
* :mod:`.no_cookies`: no ``Set-Cookie`` on any reply to an allowed page;
* :mod:`.page_requests`: an allowed page's requests, either way in, routed as usual;
* :mod:`.kernel_map`: ``ColabBridge.kernel_map`` applied to those requests;
* :mod:`.missing_routes`: one WARNING per route a page asks for that the server lacks.
"""
