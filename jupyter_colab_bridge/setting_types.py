"""List and dict settings that read the command line's ``["a", "b"]`` as a list.

jupyter_server parses an extension's ``--ColabBridge.x=...`` options late,
through traitlets' deferred strings; for a list of strings traitlets then
fails to read ``["a", "b"]`` (it validates the items without an owner) and
keeps the whole text as one item, so ``allowed_origin_patterns=["..."]``
became a single useless pattern and the server started without a word.
:class:`ListSetting` and :class:`DictSetting` read the value themselves:

* a list (or dict) literal, in JSON or Python syntax, is that list (or dict);
* a text without brackets is one item (``--ColabBridge.allowed_origins=http://x``),
  or one ``key=value`` pair for a dict, as traitlets reads it;
* a bracketed text that is no list (typically the shell ate the quotes:
  ``[https://a.example]``) is refused with a message showing both forms.

Every list and dict setting of ``ColabBridge`` uses them
(``tests/test_list_settings.py`` checks it).
"""

from __future__ import annotations

import ast
import json
import warnings
from typing import Any

from traitlets import Dict, List, TraitError, Unicode


def _literal(text: str) -> Any:
    """``text`` read as JSON, else as a Python literal; raises ValueError if neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        with warnings.catch_warnings():
            # '\.' in a Python string is an invalid escape (a warning), kept as is: what
            # a regular expression means
            warnings.simplefilter("ignore")
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(str(e)) from None


def list_syntax(name: str) -> str:
    """How to write a list setting, in a config file and on the command line."""
    return (
        f"in jupyter_server_config.py write c.ColabBridge.{name} = ['a', 'b']; on the "
        f"command line quote the whole list so the shell keeps its quotes: "
        f'--ColabBridge.{name}=\'["a", "b"]\', or repeat the option, '
        f"--ColabBridge.{name}=a --ColabBridge.{name}=b"
    )


def dict_syntax(name: str) -> str:
    """How to write a dict setting, in a config file and on the command line."""
    return (
        f"in jupyter_server_config.py write c.ColabBridge.{name} = {{'key': 'value'}}; on "
        f"the command line --ColabBridge.{name}=key=value (repeat it for more), or quote "
        f'the whole dict: --ColabBridge.{name}=\'{{"key": "value"}}\''
    )


def read_list(text: str, name: str) -> list[Any]:
    """One command-line value of list setting ``name``; TraitError with the syntax if unreadable."""
    stripped = text.strip()
    if not (stripped.startswith(("[", "(")) and stripped.endswith(("]", ")"))):
        return [text]
    try:
        value = _literal(stripped)
    except ValueError:
        value = None
    if not isinstance(value, (list, tuple)):
        raise TraitError(
            f"ColabBridge.{name}: {text!r} looks like a list but is not one (were its "
            f"quotes removed by the shell?); {list_syntax(name)}"
        )
    return list(value)


def read_dict(text: str, name: str) -> dict[Any, Any]:
    """One command-line value of dict setting ``name``; TraitError with the syntax if unreadable."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            value = _literal(stripped)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    elif "=" in text:
        key, _, item = text.partition("=")
        return {key: item}
    raise TraitError(f"ColabBridge.{name}: {text!r} is not a dict; {dict_syntax(name)}")


class ListSetting(List):  # type: ignore[type-arg]  # traitlets' List is generic only in stubs
    """A list of strings that reads ``["a", "b"]`` from the command line (see the module)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Unicode(), **kwargs)

    def from_string(self, s: str) -> Any:
        return read_list(s, self.name or "?")

    def from_string_list(self, s_list: list[str]) -> Any:
        if len(s_list) == 1:
            return read_list(s_list[0], self.name or "?")
        return list(s_list)

    def set(self, obj: Any, value: Any) -> None:
        # traitlets sets the text of an option it could not read as is, and
        # List.set would make it a list of that one text
        if isinstance(value, str):
            value = read_list(value, self.name or "?")
        super().set(obj, value)


class DictSetting(Dict):
    """A dict of strings that reads ``{"k": "v"}`` or ``k=v`` from the command line."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(key_trait=Unicode(), value_trait=Unicode(), **kwargs)

    def from_string(self, s: str) -> Any:
        return read_dict(s, self.name or "?")

    def from_string_list(self, s_list: list[str]) -> Any:
        merged: dict[Any, Any] = {}
        for s in s_list:
            merged.update(read_dict(s, self.name or "?"))
        return merged

    def set(self, obj: Any, value: Any) -> None:
        if isinstance(value, str):
            value = read_dict(value, self.name or "?")
        super().set(obj, value)
