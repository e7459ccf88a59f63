"""Event types and their payloads: the model each ``type`` of event validates its ``payload`` with.

The envelope (weir.models) is the core's and the same for every stream; what a payload is belongs to
the domain (weir.domain), which declares one model per event type in an :class:`EventTypes`. The
ingest API validates every event with it (a 400 names each field, ``events[i].payload.<field>``, or
``events[i].type`` for a type the stream does not take) and so does the consumer (a record that does
not fit is quarantined with the reason). A sink receives the :class:`TypedEvent`: the envelope and
its payload as an instance of its type's model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from weir.models import Event
from weir.texts import field_path

P = TypeVar("P", bound=BaseModel)
Location = tuple[str | int, ...]


class EventRejected(ValueError):
    """An event whose type the stream does not take, or whose payload does not fit its type's model.
    ``problems`` are (location in the envelope, message): ``("type",)`` or ``("payload", ...)``."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        super().__init__("; ".join(f"{field_path(loc)}: {message}" for loc, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class StreamPosition:
    """Where the consumer read an event: its record's shard and sequence number, and its place in an
    aggregated record (None for a plain record)."""

    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None = None


@dataclass(frozen=True)
class TypedEvent(Generic[P]):
    """An event as a sink receives it: the envelope as it travelled, its payload validated, and where
    on the stream the consumer read it (None outside a consumer)."""

    envelope: Event
    payload: P
    position: StreamPosition | None = None

    @property
    def event_id(self) -> str:
        return self.envelope.event_id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def occurred_at(self) -> str:
        return self.envelope.occurred_at

    @property
    def partition_key(self) -> str | None:
        return self.envelope.partition_key


class EventTypes:
    """The payload model of every event type a stream takes.

    ``models`` maps a type to its model; ``other`` (when given) validates the payload of any type not
    named, for a stream that takes types it does not list. An event of a type neither covers is
    refused by the API and quarantined by the consumer, the type named in the reason.
    """

    def __init__(self, models: Mapping[str, type[BaseModel]], *, other: type[BaseModel] | None = None) -> None:
        if not models and other is None:
            raise ValueError("EventTypes needs at least one type's model, or a model for other types")
        self._models = dict(models)
        self._other = other

    def __iter__(self) -> Iterator[tuple[str, type[BaseModel]]]:
        return iter(self._models.items())

    @property
    def other(self) -> type[BaseModel] | None:
        return self._other

    def model_for(self, type_: str) -> type[BaseModel]:
        model = self._models.get(type_, self._other)
        if model is None:
            known = ", ".join(repr(name) for name in sorted(self._models))
            raise EventRejected([(("type",), f"unknown event type {type_!r}; this stream takes {known}")])
        return model

    def validate(self, event: Event) -> TypedEvent[Any]:
        """The event with its payload validated by its type's model, or :class:`EventRejected`."""
        model = self.model_for(event.type)
        try:
            payload = model.model_validate(event.payload)
        except ValidationError as exc:
            raise EventRejected([(("payload", *err["loc"]), err["msg"]) for err in exc.errors()]) from None
        return TypedEvent(event, payload)
