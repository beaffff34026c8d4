"""The clients' JSON and base64: the fastest available, so that it is not what is measured."""

from __future__ import annotations

import json
from typing import Any, Callable

loads: Callable[[str | bytes], Any]
dumps: Callable[[Any], bytes]
b64decode: Callable[[str | bytes], bytes]

try:
    import orjson
except ImportError:  # pragma: no cover
    loads = json.loads

    def _json_dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    dumps = _json_dumps
else:
    loads = orjson.loads
    dumps = orjson.dumps

try:
    import pybase64
except ImportError:  # pragma: no cover
    import base64

    b64decode = base64.b64decode
else:
    b64decode = pybase64.b64decode
