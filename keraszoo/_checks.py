"""Eager argument validation shared by every public constructor.

Messages follow the Keras convention: they name the argument and the value received,
e.g. "Expected `latent_dim` > 0. Received: latent_dim=-1".
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any


def check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    """Raises ValueError unless `value` is a (optionally integer) number > 0."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive integer" if integer else "> 0"
        raise ValueError(f"Expected `{name}` {what}. Received: {name}={value!r}")


def check_count(name: str, value: Any) -> None:
    """Raises ValueError unless `value` is an integer ≥ 0, or a tensor (a serving signature's
    input, which TensorFlow checks when it runs)."""
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"Expected `{name}` a non-negative integer. Received: {name}={value!r}")


def check_one_of(name: str, value: Any, choices: Iterable[str]) -> None:
    """Raises ValueError unless `value` is one of `choices`."""
    choices = sorted(choices)
    if value not in choices:
        raise ValueError(f"Expected `{name}` to be one of {choices}. Received: {name}={value!r}")
