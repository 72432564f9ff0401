"""``--help`` screens that say what a value is in words, not as a Python type.

Typer prints each parameter's annotation (``<str>``, ``<bool>``, ``<list[str]>``) next to its
help; to a person that is noise. Here a flag shows no type at all and an option taking a value
shows its name as the placeholder (``--mode MODE``, ``-k K``), as Unix manuals do; an argument
shows its name only. Typer has no setting for this, so its parameter classes are narrowed to
these subclasses when a command lists its parameters.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar or (self.name or "value").upper()


def _untyped(params: list[Any]) -> list[Any]:
    for p in params:
        if type(p) is TyperArgument:
            p.__class__ = _Argument
        elif type(p) is TyperOption:
            p.__class__ = _Option
    return params


class Command(TyperCommand):
    """A command whose help names no Python types."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters, shown without their types."""
        return _untyped(super().get_params(ctx))


class Group(TyperGroup):
    """A command group whose help names no Python types."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters, shown without their types."""
        return _untyped(super().get_params(ctx))


def plain_help(app: typer.Typer) -> None:
    """Make ``app``, its sub-apps and all their commands show help without Python types."""
    if not isinstance(app.info.cls, type) or app.info.cls is TyperGroup:  # unset, or Typer's own
        app.info.cls = Group
    for command in app.registered_commands:
        if not isinstance(command.cls, type) or command.cls is TyperCommand:
            command.cls = Command
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_help(group.typer_instance)
