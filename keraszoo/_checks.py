"""Eager argument validation shared by every public constructor.

Messages follow the Keras convention: they name the argument and the value received,
e.g. "Expected `latent_dim` > 0. Received: latent_dim=-1".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    """Raises ValueError unless `value` is a (optionally integer) number > 0."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive integer" if integer else "> 0"
        raise ValueError(f"Expected `{name}` {what}. Received: {name}={value!r}")


def check_one_of(name: str, value: Any, choices: Iterable[str]) -> None:
    """Raises ValueError unless `value` is one of `choices`."""
    choices = sorted(choices)
    if value not in choices:
        raise ValueError(f"Expected `{name}` to be one of {choices}. Received: {name}={value!r}")
