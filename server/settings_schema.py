"""How a hub setting is declared: a pydantic field that carries its default, bounds, help and env.

A TOML section is a ``SettingsModel`` whose fields are its keys. A field's default is written as
it would be in the TOML file (``"5m"``, ``"mqtt://..."``); a ``Parsed`` annotation says what TOML
type the file gives and what the hub uses instead, so loading, errors, the environment and the
documentation all come from the one declaration. ``settings_of`` lists the declarations as rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic.fields import FieldInfo
from pydantic_core import core_schema


class ValueProblem(ValueError):
    """What is wrong with a setting's value, without its name (the loader knows where it was).

    ``at`` continues the name: ``[2]`` for an item of a list, ``.key`` when a check of a whole
    section blames one of its keys.
    """

    def __init__(self, problem: str, at: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.at = at


class SettingsModel(BaseModel):
    # Strict: a TOML string is never quietly turned into a number, nor true into 1. Defaults are
    # validated too, because they are written as the TOML file would write them.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_default=True)


def setting(
    default: Any,
    help: str,
    *,
    env: str | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Any:
    """A setting's declaration: ``default`` as written in TOML, ``help`` for the docs."""
    extra: dict[str, Any] = {"env": env} if env else {}
    return Field(default, description=help, ge=ge, le=le, json_schema_extra=extra)


def _type_name(kind: type) -> str:
    return "a table" if kind is dict else kind.__name__


def kind_of(value: object) -> str:
    return "a boolean" if isinstance(value, bool) else type(value).__name__


def _is_toml(value: object, kind: type) -> bool:
    # bool is an int to Python, never to a TOML file.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


@dataclass(frozen=True)
class Parsed:
    """Annotation of a setting written in TOML as ``toml_type`` and used as ``parse`` makes it.

    ``parse`` raises ``ValueProblem`` for a value it cannot use.
    """

    toml_type: type
    parse: Callable[[Any], Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def validate(self, value: object) -> Any:
        if not _is_toml(value, self.toml_type):
            raise ValueProblem(f"must be {_type_name(self.toml_type)}, got {kind_of(value)}")
        return self.parse(value)


@dataclass(frozen=True)
class Setting:
    """One declared setting, as a row: what the docs, the environment and error messages use."""

    name: str  # "section.key"
    default: Any  # as written in TOML
    help: str
    type: type  # what the TOML file must give
    env: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


def settings_of(section: str, model: type[SettingsModel]) -> tuple[Setting, ...]:
    return tuple(_row(f"{section}.{key}", info) for key, info in model.model_fields.items())


def _row(name: str, info: FieldInfo) -> Setting:
    parsed = [m for m in info.metadata if isinstance(m, Parsed)]
    choices: tuple[str, ...] | None = None
    toml_type: Any = info.annotation
    if parsed:
        toml_type = parsed[0].toml_type
    elif get_origin(info.annotation) is Literal:
        choices = get_args(info.annotation)
        toml_type = str
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    env = extra.get("env")
    minimum = maximum = None
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge) and isinstance(bound.ge, int | float):
            minimum = bound.ge
        if isinstance(bound, annotated_types.Le) and isinstance(bound.le, int | float):
            maximum = bound.le
    return Setting(
        name=name,
        default=info.default,
        help=info.description or "",
        type=toml_type,
        env=env if isinstance(env, str) else None,
        minimum=minimum,
        maximum=maximum,
        choices=choices,
    )
