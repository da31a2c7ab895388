"""The bodies of the assistant's routes (``server.requests``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PlainValidator, model_validator

from assistant.service import Selection
from assistant.types import Mode
from server.errors import bad_request
from server.requests import JsonBody

from .wiring import MAX_INSTRUCTIONS_CHARS


def _mode(raw: object) -> Mode:
    try:
        return Mode(raw)
    except ValueError:
        raise bad_request("'mode' is rewrite, fix, complete or explain", "invalid_field") from None


Offset = Annotated[int, Field(ge=0, le=2**53 - 1)]
"""A code point offset, at most the largest integer a browser sends exactly."""
Anchor = Annotated[str, Field(max_length=512)]
"""A base64 Yjs relative position."""


class Range(JsonBody):
    """Code point offsets ``start``/``end``, or anchors (which win when both are given)."""

    start: Offset | None = None
    end: Offset | None = None
    anchor_start: Anchor | None = None
    anchor_end: Anchor | None = None

    @model_validator(mode="after")
    def _one_pair(self) -> Range:
        if None in (self.anchor_start, self.anchor_end) and None in (self.start, self.end):
            raise bad_request(
                "'range' must be {start, end} or {anchor_start, anchor_end}", "invalid_field"
            )
        return self

    def selection(self) -> Selection:
        return Selection(self.start, self.end, self.anchor_start, self.anchor_end)


class Ask(JsonBody):
    mode: Annotated[Mode, PlainValidator(_mode)] = Mode.REWRITE
    instruction: str = Field("", max_length=10_000)
    language: str | None = Field(None, max_length=200)
    range: Range


class Instructions(JsonBody):
    instructions: str = Field(max_length=MAX_INSTRUCTIONS_CHARS * 2)


class NewThread(JsonBody):
    title: str = Field("", max_length=1_000)
    doc_id: str | None = Field(None, min_length=1, max_length=200)
    """The document the thread is opened beside; none: the whole workspace."""
    answer_every: bool = False


class Span(JsonBody):
    start: Offset
    end: Offset


class Post(JsonBody):
    text: str = Field(min_length=1, max_length=40_000)
    ask: bool = False
    """Ask the assistant (as a mention of @assistant does)."""
    selection: Span | None = None
    """What the asker has selected in the thread's document, in code points."""


class EditMessage(JsonBody):
    text: str = Field(min_length=1, max_length=40_000)


class Vote(JsonBody):
    value: Literal["up", "down"] | None


class Prefer(JsonBody):
    value: bool
