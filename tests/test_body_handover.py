"""``dispatch.hand_over_body`` acts only on the declared shape of tornado's handler delegate."""

from __future__ import annotations

from typing import Any

from jupyter_colab_bridge.server.dispatch import hand_over_body, whole_body_delegate


class Handler:
    """The declared shape (``WholeBodyDelegate``): a buffered body, not streamed."""

    def __init__(self, stream_request_body: Any = False, chunks: Any = None) -> None:
        self.stream_request_body = stream_request_body
        self.chunks = bytearray() if chunks is None else chunks


class Routing:
    """The declared shape (``RoutingDelegate``): the delegate a router found."""

    def __init__(self, delegate: Any) -> None:
        self.delegate = delegate


def test_the_body_is_handed_over_through_nested_routers() -> None:
    handler = Handler()
    body = b"x" * 10
    assert hand_over_body(Routing(Routing(handler)), body)
    assert handler.chunks is body


def test_other_shapes_are_fed_as_chunks() -> None:
    body = b"x"
    streaming = Handler(stream_request_body=True)
    assert not hand_over_body(Routing(streaming), body)
    assert not hand_over_body(Handler(stream_request_body=None), body)  # not declared False
    assert not hand_over_body(Handler(chunks=bytearray(b"already")), body)
    assert not hand_over_body(Handler(chunks=[b"a list"]), body)
    assert not hand_over_body(Routing(None), body)
    assert not hand_over_body(object(), body)
    assert whole_body_delegate(Routing(object())) is None
