"""The wire protocol, as pure code: no sockets, no tornado I/O, testable alone.

(``tornado.httputil``'s header and request types and ``tornado.escape`` are
used as plain data; ``tests/test_layers.py`` keeps it so.)

* :mod:`.frames`: request frames in, reply frames out (docs/protocol.md sections 1.1-1.3);
* :mod:`.handshake`: query parameters, protocol versions, the diagnose reply;
* :mod:`.paths`: which paths a page may reach through the bridge;
* :mod:`.origins`: the origin allowlist;
* :mod:`.auth_url`: the auth URL a page passes at the handshake;
* :mod:`.cors`: direct mode's CORS headers: a preflight's answer, a readable reply;
* :mod:`.kernel_map`: the kernel map's rewrite of a request that picks a kernel;
* :mod:`.runtime_api`: what ``api/colab/*`` shares with its clients (the XSSI prefix);
* :mod:`.missing_routes`: how a route a page asks for and the server lacks is logged;
* :mod:`.terminal`: ``colab/tty``'s frames and its ack window (docs/protocol.md section 9);
* :mod:`.language_server`: ``colab/lsp``'s frames and the language server it runs (section 10).
"""
