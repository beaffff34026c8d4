"""The wire protocol, as pure code: no sockets, no tornado, testable alone.

* :mod:`.frames`: request frames in, reply frames out (docs/protocol.md sections 1.1-1.3);
* :mod:`.handshake`: query parameters, protocol versions, the diagnose reply;
* :mod:`.paths`: which paths a page may reach through the bridge;
* :mod:`.origins`: the origin allowlist;
* :mod:`.auth_url`: the auth URL a page passes at the handshake;
* :mod:`.kernel_map`: the kernel map's rewrite of a request that picks a kernel;
* :mod:`.missing_routes`: how a route a page asks for and the server lacks is logged.
"""
