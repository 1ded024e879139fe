"""Reading stored events faster: the library's JSON format, parsed with orjson."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding


class FastJSONTranscoder(JSONTranscoder):
    """Writes exactly what `JSONTranscoder` writes; reads it with orjson (about 3x faster).

    Typed values (`{"_type_": name, "_data_": value}`) are revived innermost first, as the
    standard library's `object_hook` does, but only containers are visited: scalars, most
    of an event, cost nothing. Anything orjson refuses (the standard encoder can write NaN)
    falls back to the standard decoder.
    """

    def __init__(self) -> None:
        super().__init__()
        self._decoders: dict[str, Callable[[Any], Any]] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._decoders[transcoding.name] = transcoding.decode

    def decode(self, data: bytes) -> Any:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        if type(parsed) is dict:
            return self._revive_dict(parsed)
        if type(parsed) is list:
            self._revive_list(parsed)
        return parsed

    def _revive_dict(self, value: dict[str, Any]) -> Any:
        """`value` with its typed values revived (changed in place), or the typed value it is."""
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return self._typed(value)
        for key, item in value.items():
            if type(item) is dict:
                # A typed value is revived here rather than in a call of its own: most
                # nested dicts of an event are typed values (its times).
                if len(item) == 2 and "_type_" in item and "_data_" in item:
                    value[key] = self._typed(item)
                else:
                    self._revive_dict(item)
            elif type(item) is list:
                self._revive_list(item)
        return value

    def _typed(self, value: dict[str, Any]) -> Any:
        data = value["_data_"]
        if type(data) is dict:
            value["_data_"] = self._revive_dict(data)
        elif type(data) is list:
            self._revive_list(data)
        decode = self._decoders.get(value["_type_"])
        return self._decode_obj(value) if decode is None else decode(value["_data_"])

    def _revive_list(self, value: list[Any]) -> None:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict:
                value[index] = self._revive_dict(item)
            elif kind is list:
                self._revive_list(item)
