"""Physical units of ECG amplitude and their conversion to millivolts.

Conversion factors are exact SI prefixes. An unknown unit is an error, never a guess: a file that
says ``uV`` is scaled by 1e-3, one that says ``mV`` is kept, one that says ``furlong`` is refused.
"""

from __future__ import annotations

from ecglab.errors import UnitsError

# Factor that turns a value in the given unit into millivolts. Keys are compared case-sensitively
# after the spellings below, because "mV" and "MV" differ by nine orders of magnitude.
_TO_MV: dict[str, float] = {
    "mV": 1.0,
    "uV": 1e-3,
    "µV": 1e-3,
    "μV": 1e-3,
    "nV": 1e-6,
    "V": 1e3,
}
_SPELLINGS: dict[str, str] = {
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "uv": "uV",
    "microvolt": "uV",
    "microvolts": "uV",
    "µv": "uV",
    "μv": "uV",
    "nv": "nV",
    "v": "V",
    "volt": "V",
    "volts": "V",
}

KNOWN_UNITS: tuple[str, ...] = ("mV", "uV", "nV", "V")


def canonical_unit(unit: str, *, where: str = "") -> str:
    """Canonical spelling of an amplitude unit (``mV``, ``uV``, ``nV`` or ``V``).

    Raises
    ------
    UnitsError
        If the unit is empty or not a voltage unit ecglab knows.
    """
    prefix = f"{where}: " if where else ""
    text = (unit or "").strip()
    if text in _TO_MV:
        return "uV" if text in ("µV", "μV") else text
    if text.lower() in _SPELLINGS and text not in ("MV",):
        return _SPELLINGS[text.lower()]
    raise UnitsError(f"{prefix}unknown amplitude unit {unit!r} (known: {', '.join(KNOWN_UNITS)})")


def to_millivolts_factor(unit: str, *, where: str = "") -> float:
    """Multiplier that converts values in ``unit`` to millivolts."""
    return _TO_MV[canonical_unit(unit, where=where)]
