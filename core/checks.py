"""Checks of the typed options' values, so that the Python API refuses what the command line does,
in one line naming the option, before any work starts."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from .errors import MtmmError


def check_number(
    owner: object,
    name: str,
    kind: type = float,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    optional: bool = False,
) -> None:
    """`owner.name` must be a finite number (a whole one for `kind=int`; never a bool) within the
    bounds; None passes when `optional`. A NumPy number is stored as Python's own (for JSON)."""
    value = getattr(owner, name)
    if optional and value is None:
        return
    option = f"{type(owner).__name__}.{name}"
    whole = isinstance(value, Integral) and not isinstance(value, bool)
    if not (whole or (kind is not int and isinstance(value, Real) and math.isfinite(value))):
        raise MtmmError(f"{option} must be a {'whole' if kind is int else 'finite'} number, not {value!r}")
    if type(value) not in (int, float):  # numpy.int64(640), numpy.float32(0.5)
        value = int(value) if whole else float(value)
        object.__setattr__(owner, name, value)
    if minimum is not None and value < minimum:
        raise MtmmError(f"{option} must be at least {minimum}, not {value!r}")
    if above is not None and value <= above:
        raise MtmmError(f"{option} must be more than {above}, not {value!r}")
    if maximum is not None and value > maximum:
        raise MtmmError(f"{option} must be at most {maximum}, not {value!r}")


def check_flags(owner: object, *names: str) -> None:
    """Each of `owner`'s `names` must be True or False (a string "no" would read as true); NumPy's
    numpy.True_ is stored as True."""
    for name in names:
        value = getattr(owner, name)
        if isinstance(value, np.bool_):
            object.__setattr__(owner, name, bool(value))
        elif not isinstance(value, bool):
            raise MtmmError(f"{type(owner).__name__}.{name} must be True or False, not {value!r}")


def check_type(owner: object, name: str, kind: type) -> None:
    """`owner.name` must be a `kind` (a nested options object, not a dict of its fields)."""
    value = getattr(owner, name)
    if not isinstance(value, kind):
        raise MtmmError(f"{type(owner).__name__}.{name} must be of type {kind.__name__}, not {value!r}")
