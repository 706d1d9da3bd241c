"""Typed stage settings: one validated dataclass per stage, exposed as command-line flags.

Every stage has one config class declared with :func:`stage_config` (a pydantic dataclass) whose
fields are declared with :func:`setting`: a default, a one-line help text, the unit, and bounds.
Validation happens once, when the config is made, whoever makes it (the command line, a
``--config`` JSON file, the Makefile through the command line, or Python code):

* types are strict: ``"3"``, ``true`` and ``null`` are refused where a number is expected, and
  ``NaN``/``inf`` are refused everywhere; path fields take strings;
* bounds (``ge``, ``gt``, ``le``, ``lt``) refuse negative worker counts, a limit of 0 tapes, a
  learning rate of 0 and the like; ``None`` is the only "unset" value, never 0;
* unknown settings are refused.

:func:`add_config_arguments` turns the fields into ``--kebab-case`` flags whose ``--help`` shows
unit, bounds and default; :func:`config_from_args` builds the config back from parsed arguments,
layered over a config file (:func:`load_config_file`).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as _pydantic_dataclass

from jazzcnn.core.errors import SettingsError

T = TypeVar("T")
__all__ = ["SettingsError", "stage_config", "setting", "make_config", "replace", "config_from_args",
           "add_config_arguments", "config_to_dict", "load_config_file", "fields_of"]

#: Validation rules shared by every stage config.
CONFIG_RULES = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_assignment=True)


def stage_config(cls: type[T]) -> type[T]:
    """Class decorator: a validated dataclass of stage settings (see module docstring).

    Making or changing an instance with a bad value raises :class:`SettingsError`.
    """
    cls = _pydantic_dataclass(cls, config=CONFIG_RULES)
    init, setattr_ = cls.__init__, cls.__setattr__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except pydantic.ValidationError as e:
            raise SettingsError(_describe(e, type(self), None)) from None

    def __setattr__(self, name, value):
        try:
            setattr_(self, name, value)
        except pydantic.ValidationError as e:
            raise SettingsError(_describe(e, type(self), None)) from None

    cls.__init__, cls.__setattr__ = __init__, __setattr__
    return cls


def setting(default: Any, help: str, unit: str | None = None, *, path: bool = False, ge: float | None = None,
            gt: float | None = None, le: float | None = None, lt: float | None = None,
            default_factory=None) -> Any:
    """Declare a documented, validated config field.

    Parameters
    ----------
    default : Any
        Default value (a list default is copied per instance). ``None`` means "unset": the stage
        derives the value (e.g. from a preset).
    help : str
        One-line description shown by ``--help``.
    unit : str, optional
        Unit of the value (``"Hz"``, ``"s"``, ``"samples"``, ``"bytes"`` ...), shown by ``--help``.
    path : bool
        The field is a path: strings are accepted and become :class:`pathlib.Path` (set
        automatically for a ``Path`` default).
    ge, gt, le, lt : float, optional
        Bounds: greater or equal, greater, less or equal, less than.
    default_factory : callable, optional
        Called for the default instead of ``default`` (e.g. to read an environment variable).

    Returns
    -------
    pydantic.fields.FieldInfo
    """
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    extra = {"unit": unit} if unit else {}
    lax = {"strict": False} if path or isinstance(default, Path) else {}
    if default_factory is None and isinstance(default, (list, dict, set)):
        default_factory = lambda d=default: type(d)(d)  # noqa: E731
    if default_factory is not None:
        return Field(default_factory=default_factory, description=help, json_schema_extra=extra, **bounds, **lax)
    return Field(default, description=help, json_schema_extra=extra, **bounds, **lax)


def fields_of(cls: type) -> dict[str, Any]:
    """``{name: pydantic FieldInfo}`` of a :func:`stage_config` class, in declaration order."""
    return dict(cls.__pydantic_fields__)


def _base_type(tp: Any) -> tuple[Any, bool, tuple]:
    """(scalar type, is_list, literal choices) of an annotation such as ``int | None`` or ``list[str]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        return type(choices[0]), False, choices
    if origin in (list, tuple):
        return typing.get_args(tp)[0], True, ()
    return tp, False, ()


def _parse_bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _bounds_text(info) -> str:
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts = []
    for m in info.metadata:
        for k, sign in signs.items():
            v = getattr(m, k, None)
            if v is not None:
                parts.append(f"{sign} {v:g}" if isinstance(v, (int, float)) else f"{sign} {v}")
    return ", ".join(parts)


def field_default(info) -> Any:
    """The default value of a pydantic FieldInfo (its factory called when it has one)."""
    if info.default_factory is not None:
        return info.default_factory()
    return info.default


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per field of the :func:`stage_config` class ``cls`` to ``parser``.

    Parser defaults are ``None`` so that :func:`config_from_args` can tell "not given" from "given
    the default" (needed when a config file is layered underneath).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    cls : type
        A :func:`stage_config` class whose fields were declared with :func:`setting`.
    skip : tuple of str
        Field names not to expose.
    """
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for name, info in fields_of(cls).items():
        if name in skip:
            continue
        base, is_list, choices = _base_type(info.annotation)
        default = field_default(info)
        unit = (info.json_schema_extra or {}).get("unit")
        help_text = info.description or ""
        if unit:
            help_text += f" [{unit}]"
        bounds = _bounds_text(info)
        if bounds:
            help_text += f" ({bounds})"
        shown = str(default) if isinstance(default, Path) else repr(default)
        help_text += f" (default: {shown})"
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text.replace("%", "%%")}
        if choices:
            kwargs["choices"] = list(choices)
        if base is bool:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="BOOL")
        elif is_list:
            # Comma-separated on the command line, so Make variables pass through unchanged.
            kwargs.update(type=lambda s, b=base: [b(x.strip()) for x in s.split(",") if x.strip()], metavar="A,B")
        elif base is Path:
            kwargs.update(type=Path, metavar="PATH")
        else:
            kwargs.update(type=base)
        group.add_argument("--" + name.replace("_", "-"), **kwargs)


def _describe(error: pydantic.ValidationError, cls: type, source: str | None) -> str:
    lines = []
    for e in error.errors():
        name = ".".join(str(p) for p in e["loc"]) or "?"
        where = f"{source}: " if source else ""
        if e["type"] == "unexpected_keyword_argument":
            lines.append(f"{where}unknown setting {name!r} for {cls.__name__}")
        else:
            lines.append(f"{where}setting {name}: {e['msg'].rstrip('.')}, got {e.get('input')!r}")
    return "; ".join(lines)


def make_config(cls: type[T], values: dict[str, Any], *, source: str | None = None) -> T:
    """Build and validate ``cls`` from a dict of settings.

    Parameters
    ----------
    cls : type
        A :func:`stage_config` class.
    values : dict
        Setting name -> value.
    source : str, optional
        Where the values came from (a file name), for the error message.

    Raises
    ------
    SettingsError
        Unknown setting, wrong type or value out of range; every problem is named.
    """
    unknown = sorted(set(values) - set(fields_of(cls)))
    if unknown:
        where = f"{source}: " if source else ""
        raise SettingsError(f"{where}unknown setting(s) {unknown} for {cls.__name__}")
    try:
        return cls(**values)
    except SettingsError as e:
        raise SettingsError(f"{source}: {e}" if source else str(e)) from None


def replace(cfg: T, **changes: Any) -> T:
    """``dataclasses.replace`` with validation errors as :class:`SettingsError`."""
    return make_config(type(cfg), {**{k: getattr(cfg, k) for k in fields_of(type(cfg))}, **changes})


def config_from_args(cls: type[T], args: argparse.Namespace, base: dict[str, Any] | None = None,
                     source: str | None = None) -> T:
    """Build ``cls`` from parsed arguments, layered over ``base`` (e.g. a config file) and defaults.

    Raises
    ------
    SettingsError
        If ``base`` names an unknown setting, or a value is invalid.
    """
    values: dict[str, Any] = dict(base or {})
    unknown = sorted(set(values) - set(fields_of(cls)))
    if unknown:
        raise SettingsError(f"{source + ': ' if source else ''}unknown setting(s) {unknown} for {cls.__name__}")
    for name in fields_of(cls):
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    return make_config(cls, values, source=source)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}


def load_config_file(path: Path) -> dict[str, Any]:
    """Read settings from a JSON config file.

    Raises
    ------
    SettingsError
        If the file is missing, unreadable, not valid JSON or not a JSON object, naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SettingsError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"config file {path} cannot be read ({e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SettingsError(f"{path}, line {e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a JSON object of settings, got {type(data).__name__}")
    return data
