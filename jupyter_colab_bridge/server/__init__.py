"""The server side: tornado handlers and hooks that translate to the pure protocol.

* :mod:`.front_door`: the bridge's one rule in tornado's router, first of all;
* :mod:`.verdict`: each request's record: from an allowed page, origin, credentials;
* :mod:`.base`: what every bridge socket checks before and around the upgrade;
* :mod:`.credentials`: does a request carry a token, does the server accept one;
* :mod:`.handlers`: ``http_over_websocket`` and its ``diagnose`` socket;
* :mod:`.tunnel`: one tunnel socket's requests, in-flight limits and timeouts;
* :mod:`.dispatch`: tunnelled requests served in-process by the server's own app;
* :mod:`.context`: the peer's address of the requests the bridge builds in-process;
* :mod:`.corking`: bursts of small reply frames leave in few TCP segments;
* :mod:`.kernel_channels`: ``proxied_ws`` kernel channels, attached in-process;
* :mod:`.proxied_ws`: ``http_over_websocket/proxied_ws/<path>``, relayed;
* :mod:`.backlog`: what a socket's peer has not read yet (unfinished writes);
* :mod:`.nodelay`: jupyter_server's own WebSocket frames sent at once (``TCP_NODELAY``);
* :mod:`.direct_mode`: CORS for allowlisted pages that call the API directly;
* :mod:`.no_cookies`: no ``Set-Cookie`` on any reply to an allowed page;
* :mod:`.page_refusals`: direct mode's 403 to a page says why (a refused or missing token);
* :mod:`.kernel_map`: ``ColabBridge.kernel_map`` applied after authentication;
* :mod:`.missing_routes`: one WARNING per route a page asks for that the server lacks;
* :mod:`.terminal`: ``colab/tty``, the server's one shell on its terminal manager;
* :mod:`.language_server`: ``colab/lsp``, a language server per socket via jupyter-lsp;
* :mod:`.port_proxy`: ``_proxy/<port>/<path>``, a web app on a loopback port, HTTP and WebSocket;
* :mod:`.pings`: jupyter_server's pings only, not tornado's (no ping-timeout warning);
* :mod:`.large_text`: a large text frame of the tunnel read in pieces, as raw bytes.
"""
