"""The kiosk screen's local HTTP API as typed models: the state the browser draws, the button
press it sends, the refusal. ``kiosk/api.py`` serves them (flask-openapi3 checks each action
against :class:`Action` and writes ``/openapi.json`` from these models); ``Flow.state`` builds
:class:`State`, so a field the page needs cannot be left out (mypy, and pydantic at run time).

Models only, no views: the flow imports them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from serving.api import Closed, error_model

from .errors import Code

# the screens of the QA contract (kiosk/README.md), each with its words in messages.SCREENS
Screen = Literal[
    "welcome",
    "menu",
    "pin",
    "reading",
    "remove_card",
    "municipality",
    "checking",
    "type",
    "copies",
    "confirm",
    "payment",
    "printing",
    "done",
    "locked",
    "cancelled",
    "error",
    "out_of_service",
]
Lang = Literal["ja", "en"]
Kind = Literal["domestic", "overseas"]
# what the page sends (kiosk/static/kiosk.js: send(action, value)); the keypad's own buttons
# (digit, pin-clear, pin-enter) stay in the page, which sends "pin" once with the 4 digits
ActionName = Literal[
    "lang",
    "cancel",
    "ok",
    "covid-certificate",
    "pin",
    "municipality",
    "domestic",
    "overseas",
    "back",
    "copies-more",
    "copies-fewer",
    "next",
    "pay",
    "taken",
]
MunicipalityCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit code")]


class Words(BaseModel):
    """What the kiosk says, in both languages (the page shows the one of ``lang``)."""

    ja: str
    en: str


class Municipality(BaseModel):
    """A municipality the center named for this visit (its session)."""

    code: MunicipalityCode
    name_ja: str
    name_en: str


class State(BaseModel):
    """The screen and what it shows. No personal data: nothing of the card but the tries left."""

    screen: Screen
    lang: Lang
    text: Words = Field(description="the screen's title")
    message: Words | None = Field(description="after an error, a wrong PIN or a refusal")
    code: Code | None = Field(description="the machine-readable reason of the message")
    reminder: Words | None = Field(description="take your card / your certificate")
    voice: Words = Field(description="what is spoken")
    voice_id: str = Field(description="a new one: say it (again)")
    card_present: bool
    tries: int | None = Field(description="the PIN tries the card has left, once read")
    copies: int = Field(ge=1)
    kind: Kind | None
    fee: int = Field(description="yen, one certificate")
    copy_fee: int = Field(description="yen, one copy of the chosen type (overseas: two pages)")
    max_copies: int
    total: int = Field(description="yen, the whole order")
    charged: int = Field(description="yen, captured by the payment terminal")
    municipality: MunicipalityCode | None = Field(description="the one chosen")
    overseas_allowed: bool
    municipalities: list[Municipality] = Field(description="those the resident may choose")
    not_offering: list[Municipality] = Field(
        description="shown, not choosable: no convenience-store issuance"
    )
    tray: int = Field(ge=0, description="pages in the simulated printer's tray (final screen)")


ActionValue = Annotated[
    str,
    Field(
        pattern=r"^(ja|en|[0-9]{4}|[0-9]{6})$",
        description="lang: ja or en; pin: the 4 digits; municipality: its 6-digit code",
    ),
]


class Action(Closed):
    """A button press. One the screen shown does not take is ignored (the state answers)."""

    action: ActionName
    value: ActionValue | None = None


class Refusal(StrEnum):
    """The codes the kiosk's HTTP API refuses with: the kiosk's own (``kiosk.errors.Code``)."""

    BAD_REQUEST = Code.BAD_REQUEST.value
    NOT_FOUND = Code.NOT_FOUND.value
    METHOD_NOT_ALLOWED = Code.METHOD_NOT_ALLOWED.value
    REQUEST_TOO_LARGE = Code.REQUEST_TOO_LARGE.value


Error = error_model(Refusal)


class TrayPath(BaseModel):
    n: int = Field(ge=0, description="the page, from 0")
