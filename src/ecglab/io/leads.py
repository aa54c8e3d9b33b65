"""Lead names: one spelling per lead, and a refusal to guess.

Files in the wild spell the same lead many ways (``avr``, ``AVR``, ``aVR``, ``v1``, ``ML2``,
``MLII``). :func:`normalize_lead` maps known spellings to one canonical name; a name it does not
know raises :class:`~ecglab.errors.LeadError` unless the caller opts in to keeping it as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ecglab.errors import LeadError

#: The standard 12 leads in the conventional order.
STANDARD_12: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: Lead subsets of the PhysioNet/CinC 2021 challenge.
LEAD_SUBSETS: dict[int, tuple[str, ...]] = {
    12: STANDARD_12,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}

_CANONICAL: tuple[str, ...] = (
    *STANDARD_12,
    # modified limb leads of Holter / MIT-BIH recordings
    "MLI", "MLII", "MLIII",
    # posterior and right-sided chest leads
    "V7", "V8", "V9", "V3R", "V4R", "V5R", "V6R",
    # Frank orthogonal leads (PTB diagnostic database)
    "X", "Y", "Z", "VX", "VY", "VZ",
    # modified chest leads, bipolar chest leads, EASI
    "MV1", "MV2", "MV3", "MV4", "MV5", "MV6", "CM5", "CC5", "ML5", "ES", "AS", "AI",
    # generic single-channel ECG (Holter, wearables, AF databases)
    "ECG", "ECG1", "ECG2", "ECG3",
)  # fmt: skip

_ALIASES: dict[str, str] = {
    "LEADI": "I", "LEADII": "II", "LEADIII": "III", "L1": "I", "L2": "II", "L3": "III",
    "ML2": "MLII", "ML1": "MLI", "ML3": "MLIII",
}  # fmt: skip

_BY_KEY: dict[str, str] = {name.upper(): name for name in _CANONICAL}


def _key(name: str) -> str:
    return name.strip().replace(" ", "").replace("_", "").upper()


def normalize_lead(name: str, *, allow_unknown: bool = False) -> str:
    """Return the canonical spelling of a lead name.

    Parameters
    ----------
    name
        Lead name as written in a file (``"avr"``, ``"V1 "``, ``"ML2"`` ...).
    allow_unknown
        Keep an unknown name (stripped) instead of raising, for non-ECG channels such as the
        ``noise1`` channels of the MIT-BIH Noise Stress Test Database.

    Raises
    ------
    LeadError
        If the name is empty, or unknown and ``allow_unknown`` is false.
    """
    if not isinstance(name, str) or not name.strip():
        raise LeadError(f"empty lead name {name!r}")
    key = _key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _BY_KEY:
        return _BY_KEY[key]
    if allow_unknown:
        return name.strip()
    raise LeadError(f"unknown lead name {name!r} (known: {', '.join(_CANONICAL)})")


def normalize_leads(names: Iterable[str], *, allow_unknown: bool = False, where: str = "") -> tuple[str, ...]:
    """Normalise several lead names and check that none repeats.

    ``where`` (a file path) is put in front of error messages.
    """
    prefix = f"{where}: " if where else ""
    out: list[str] = []
    for i, name in enumerate(names):
        try:
            out.append(normalize_lead(name, allow_unknown=allow_unknown))
        except LeadError as exc:
            raise LeadError(f"{prefix}signal {i}: {exc}") from None
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise LeadError(f"{prefix}duplicate lead name(s): {', '.join(dupes)}")
    return tuple(out)


def is_known_lead(name: str) -> bool:
    """True if ``name`` is a lead name ecglab knows (in any accepted spelling)."""
    key = _key(name) if isinstance(name, str) else ""
    return key in _BY_KEY or key in _ALIASES


def resolve_alternatives(wanted: Iterable[str], available: Sequence[str]) -> tuple[str, ...]:
    """Resolve ``"A|B|C"`` lead requests to the first alternative that ``available`` holds.

    A model trained on "MLII and the record's chest lead" asks for ``("MLII", "V1|V2|V4|V5")``:
    MIT-BIH's second channel is V1 in most records and V2, V4 or V5 in the rest. A request with no
    alternative present resolves to its first option, so that the caller's lead check names it.
    """
    out = []
    for lead in wanted:
        options = str(lead).split("|")
        out.append(next((o for o in options if o in available), options[0]))
    return tuple(out)


def lead_indices(available: Sequence[str], wanted: Iterable[str], *, where: str = "") -> list[int]:
    """Indices of ``wanted`` leads in ``available``; names are normalised on both sides.

    Raises
    ------
    LeadError
        Naming the missing leads and those available.
    """
    have = {_key(n): i for i, n in enumerate(available)}
    idx: list[int] = []
    missing: list[str] = []
    for name in wanted:
        canon = normalize_lead(name, allow_unknown=True)
        i = have.get(_key(canon))
        if i is None:
            missing.append(str(name))
        else:
            idx.append(i)
    if missing:
        prefix = f"{where}: " if where else ""
        raise LeadError(
            f"{prefix}lead(s) {', '.join(missing)} not in recording (has: {', '.join(available)})"
        )
    return idx
