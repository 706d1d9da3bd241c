"""Typed stage settings (dataclasses) exposed as command-line flags.

Every stage has one dataclass config. Each field carries ``metadata={"help": ..., "unit": ...}``;
:func:`add_config_arguments` turns the fields into ``--kebab-case`` flags whose ``--help`` shows the
unit and default, and :func:`config_from_args` builds the dataclass back from parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def setting(default: Any, help: str, unit: str | None = None, **kwargs: Any) -> Any:
    """Declare a documented config field.

    Parameters
    ----------
    default : Any
        Default value (a list default is copied per instance).
    help : str
        One-line description shown by ``--help``.
    unit : str, optional
        Unit of the value (``"Hz"``, ``"s"``, ``"samples"``, ``"bytes"`` ...), shown by ``--help``.
    """
    meta = {"help": help, "unit": unit, **kwargs}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _base_type(tp: Any) -> tuple[Any, bool]:
    """Return (scalar type, is_list) for a field annotation such as ``int | None`` or ``list[str]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    if origin in (list, tuple):
        return typing.get_args(tp)[0], True
    return tp, False


def _parse_bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` to ``parser``.

    Defaults are left as ``None`` in the parser so that :func:`config_from_args` can tell
    "not given" from "given the default" (needed when a config file is layered underneath).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    cls : type
        A dataclass whose fields were declared with :func:`setting`.
    skip : tuple of str
        Field names not to expose.
    """
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        base, is_list = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        unit = f.metadata.get("unit")
        help_text = f.metadata.get("help", "")
        if unit:
            help_text += f" [{unit}]"
        shown = str(default) if isinstance(default, Path) else repr(default)
        help_text += f" (default: {shown})"
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        if base is bool:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="BOOL")
        elif is_list:
            # Comma-separated on the command line, so Make variables pass through unchanged.
            kwargs.update(type=lambda s, b=base: [b(x.strip()) for x in s.split(",") if x.strip()], metavar="A,B")
        elif base is Path:
            kwargs.update(type=Path, metavar="PATH")
        else:
            kwargs.update(type=base)
        group.add_argument(flag, **kwargs)


def config_from_args(cls: type[T], args: argparse.Namespace, base: dict[str, Any] | None = None) -> T:
    """Build ``cls`` from parsed arguments, layered over ``base`` (e.g. a config file) and defaults.

    Raises
    ------
    ValueError
        If ``base`` names a field that ``cls`` does not have.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if base:
        unknown = set(base) - names
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)} for {cls.__name__}")
        values.update(base)
    hints = typing.get_type_hints(cls)
    for name in names:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    for name, v in list(values.items()):
        base_t, is_list = _base_type(hints[name])
        if base_t is Path and v is not None and not is_list:
            values[name] = Path(v)
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass (paths as strings)."""
    out = {}
    for k, v in dataclasses.asdict(cfg).items():
        out[k] = str(v) if isinstance(v, Path) else v
    return out


def load_config_file(path: Path) -> dict[str, Any]:
    """Read settings from a JSON config file.

    Raises
    ------
    ValueError
        If the file is not a JSON object, naming the file.
    """
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    return data
