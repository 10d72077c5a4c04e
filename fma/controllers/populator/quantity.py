"""Kubernetes resource quantities (``"8"``, ``"500m"``, ``"64Gi"``, ``"1e3"``) as exact fractions."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

_RE = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(value: Any) -> Fraction:
    """The exact value of a quantity; ints and floats are taken as they are."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"not a quantity: {value!r}")
        return Fraction(value)
    if not isinstance(value, str):
        raise QuantityError(f"not a quantity: {value!r}")
    m = _RE.match(value.strip())
    if m is None:
        raise QuantityError(f"not a quantity: {value!r} (want e.g. 8, 500m, 64Gi, 1e3)")
    sign, number, suffix = m.group(1), m.group(2), m.group(3) or ""
    out = Fraction(number)
    if suffix in _BINARY:
        out *= 1024 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        out *= Fraction(10) ** _DECIMAL[suffix]
    else:  # decimal exponent
        out *= Fraction(10) ** int(suffix[1:])
    return -out if sign == "-" else out
