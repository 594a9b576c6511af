"""Checking a request before it is made: every problem of a (partial) body, in words.

``POST /api/bots/validate`` and ``POST /api/keys/validate`` run the very schemas of
``POST /api/bots`` and ``POST /api/keys`` (``services/schemas.py``) and, for a bot,
the cross-field rules of its definition (``services/definitions.py``) and the name's
uniqueness; nothing is created, written or sent anywhere. The dashboard asks as the
user types, so no rule is kept a second time in JavaScript.

A partial body is checked field by field: a required field it leaves out is not a
problem (``complete`` says whether the body would be a whole request). The
cross-field rules need a whole bot, so they run once every field is there and valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from botmaker.errors import BotMakerError
from botmaker.openclaw.catalog import PROVIDERS, key_format_problem
from botmaker.services.definitions import build_definition
from botmaker.services.fieldnames import in_words, validation_message
from botmaker.services.schemas import NAME_PATTERN, BotCreate, KeyCreate

if TYPE_CHECKING:
    from botmaker.services import Services

_NOT_NAME = re.compile(r"[^a-z0-9]+")


@dataclass
class Validation:
    """What a check found: ``problems`` a create would refuse, ``warnings`` it would not."""

    problems: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    complete: bool = False
    suggestions: dict[str, str] = field(default_factory=dict)

    def add(self, field_name: str | None, message: str, *, warning: bool = False) -> None:
        entry = {"field": field_name or "body", "message": in_words(field_name, message)}
        target = self.warnings if warning else self.problems
        if entry not in target:
            target.append(entry)

    def fields(self) -> set[str]:
        return {p["field"] for p in self.problems}

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": not self.problems,
            "complete": self.complete and not self.problems,
            "problems": self.problems,
            "warnings": self.warnings,
            "suggestions": self.suggestions,
        }


def _field(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc)


def check_schema(model: type[BaseModel], body: dict[str, Any], found: Validation) -> Any:
    """``body`` against ``model``: every problem into ``found``; the model when whole."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error.get("loc", ()))
            if error.get("type") == "missing" and len(loc) == 1 and loc[0] not in body:
                continue  # a partial body: a field not given yet is no problem
            found.add(_field(loc), validation_message(dict(error)))
        return None


def suggest_name(persona_name: str, taken: set[str]) -> str | None:
    """A bot name made of a persona name ("My Support Bot" -> "my-support-bot") that
    follows the name rules and is not ``taken`` (else with -2, -3, ...)."""
    base = _NOT_NAME.sub("-", persona_name.lower()).strip("-")
    if not base:
        return None
    if not base[0].isalpha():
        base = f"bot-{base}"
    base = base[:63].rstrip("-")
    candidate = base
    for n in range(2, 100):
        if candidate not in taken and re.fullmatch(NAME_PATTERN, candidate):
            return candidate
        suffix = f"-{n}"
        candidate = base[: 63 - len(suffix)].rstrip("-") + suffix
    return None


def validate_bot(
    body: dict[str, Any],
    *,
    taken: set[str],
    keyed: Callable[[BotCreate], bool],
    image: str,
    shared_key: Callable[[BotCreate], None] | None = None,
) -> Validation:
    """Every problem of a ``POST /api/bots`` body. ``taken``: the bot names in use;
    ``keyed(request)``: whether the bot would use the keyring; ``shared_key(request)``:
    raises when a keyed bot without its own key has no shared key to use."""
    found = Validation()
    if "secrets" not in body:
        body = {**body, "secrets": {}}  # optional for a check: no secret given yet
    request = check_schema(BotCreate, body, found)
    name = body.get("name")
    if isinstance(name, str) and "name" not in found.fields() and name in taken:
        found.add("name", f"a bot named {name!r} already exists")
    persona = body.get("persona")
    if not name and isinstance(persona, dict) and isinstance(persona.get("name"), str):
        suggestion = suggest_name(persona["name"], taken)
        if suggestion:
            found.suggestions["name"] = suggestion
    _key_format(body, found)
    if request is None or found.problems:
        return found
    try:
        uses_keyring = keyed(request)
        build_definition(request, keyring=uses_keyring, image=image)
        if uses_keyring and request.secrets.api_key is None and shared_key is not None:
            shared_key(request)
    except BotMakerError as exc:
        found.add(exc.field, exc.message)
        return found
    found.complete = True
    return found


def _key_format(body: dict[str, Any], found: Validation) -> None:
    """A bot's own key that does not look like its provider's: a warning, not a refusal
    (a create takes it: with a base URL of its own a key may look like anything)."""
    secrets = body.get("secrets")
    provider = body.get("provider")
    if not isinstance(secrets, dict) or provider not in PROVIDERS or body.get("base_url"):
        return
    key = secrets.get("api_key")
    if not isinstance(key, str) or not key or "secrets.api_key" in found.fields():
        return
    problem = key_format_problem(str(provider), key.strip())
    if problem:
        found.add("secrets.api_key", problem, warning=True)


def validate_key(body: dict[str, Any]) -> Validation:
    """Every problem of a ``POST /api/keys`` body (partial: fields not given are fine)."""
    found = Validation()
    request = check_schema(KeyCreate, body, found)
    found.complete = request is not None
    return found


def check_bot(svc: Services, body: dict[str, Any]) -> Validation:
    """:func:`validate_bot` with what BotMaker knows: the names in use, whether the bot
    would go through the keyring, and the keyring's shared keys (read, never changed)."""
    creator = svc.bots.creator
    return validate_bot(
        body,
        taken=set(svc.bots.names().values()),
        keyed=creator.uses_keyring,
        image=svc.settings.bot_image,
        shared_key=lambda r: svc.deploy.require_shared_key(r.provider, list(r.key_tags)),
    )
