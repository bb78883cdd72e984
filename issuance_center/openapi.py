"""The center's HTTP API as OpenAPI 3, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from card_reader import WIRE_FIELDS
from certs.printable import ISSUED_JSON_SCHEMA
from serving.openapi import error_schema, errors, json_body

from .errors import Code

B64 = {"type": "string", "format": "byte", "maxLength": 4096}
SID = {"name": "sid", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}


MUNICIPALITY = {"type": "string", "pattern": "^[0-9]{6}$"}
NAMED_MUNICIPALITIES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "name_ja", "name_en"],
        "properties": {
            "code": MUNICIPALITY,
            "name_ja": {"type": "string"},
            "name_en": {"type": "string"},
        },
    },
}
# relayed from VRS as it answered: the kiosk prints each one's page (certs.Printable)
CERTIFICATES = {
    "type": "object",
    "required": ["certificates"],
    "properties": {"certificates": {"type": "array", "items": ISSUED_JSON_SCHEMA}},
}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Certificate issuance center (kiosk side)",
        "version": "1",
        "description": (
            "Mutual TLS with a kiosk-CA client certificate; the certificate's CN is the kiosk ID."
            " One call at a time per session: a card, eligibility or issuance call that arrives"
            " while another call on the same session is in flight is refused with 409"
            " session_busy (it did nothing); a card submitted again after one was taken is 422"
            " card_replayed and ends the session. A refusal is {error, message[, details]}:"
            " card_invalid, card_replayed, vrs_refused and vrs_unavailable pass the code behind"
            " them (the card's, VRS's, the link's) on as details [{\"error\": code}]."
        ),
    },
    "paths": {
        "/v1/sessions": {
            "post": {
                "summary": "A fresh challenge, the municipalities this kiosk may offer, those it may not",
                "responses": {
                    "201": {
                        "description": "session",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": [
                                        "session_id",
                                        "challenge",
                                        "municipalities",
                                        "not_offering",
                                        "expires_in",
                                    ],
                                    "properties": {
                                        "session_id": {"type": "string"},
                                        "challenge": B64,
                                        "expires_in": {"type": "number"},
                                        # those the kiosk may offer
                                        "municipalities": NAMED_MUNICIPALITIES,
                                        # known, but without convenience-store issuance: to
                                        # be shown as such; choosing one is refused (403)
                                        "not_offering": NAMED_MUNICIPALITIES,
                                    },
                                }
                            }
                        },
                    },
                    **errors(401, 403, 503),
                },
            }
        },
        "/v1/sessions/{sid}/card": {
            "post": {
                "summary": "The card's files and its signature over the session's challenge",
                "parameters": [SID],
                "requestBody": json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,  # M08: nothing but these
                        "required": list(WIRE_FIELDS),
                        "properties": dict.fromkeys(WIRE_FIELDS, B64),
                    }
                ),
                "responses": {
                    "200": {"description": "verified"},
                    **errors(400, 401, 403, 404, 409, 410, 413, 422),
                },
            }
        },
        "/v1/sessions/{sid}/eligibility": {
            "post": {
                "summary": "Which certificate types the verified holder can get in a municipality",
                "parameters": [SID],
                "requestBody": json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,  # M08: nothing but these
                        "required": ["municipality_code"],
                        "properties": {"municipality_code": MUNICIPALITY},
                    }
                ),
                "responses": {
                    "200": {"description": "types"},
                    **errors(400, 401, 403, 404, 409, 410, 422, 503),
                },
            }
        },
        "/v1/sessions/{sid}/certificates": {
            "post": {
                "summary": "Issue: the signed certificates and their printable fields",
                "parameters": [SID],
                "requestBody": json_body(
                    {
                        "type": "object",
                        "additionalProperties": False,  # M08: nothing but these
                        "required": ["municipality_code", "certificate_type", "copies"],
                        "properties": {
                            "municipality_code": MUNICIPALITY,
                            "certificate_type": {
                                "type": "string",
                                "enum": ["domestic", "overseas"],
                            },
                            "copies": {"type": "integer", "minimum": 1, "maximum": 10},
                        },
                    }
                ),
                "responses": {
                    "200": {
                        "description": "the certificates as VRS issued them (certs owns the shape)",
                        "content": {"application/json": {"schema": CERTIFICATES}},
                    },
                    **errors(400, 401, 403, 404, 409, 410, 422, 503),
                },
            }
        },
        "/v1/sessions/{sid}": {
            "delete": {
                "summary": "Cancel: the session is wiped",
                "parameters": [SID],
                "responses": {"204": {"description": "wiped"}, **errors(401, 403, 404, 410)},
            }
        },
    },
    "components": {"schemas": {"Error": error_schema(Code)}},
}
