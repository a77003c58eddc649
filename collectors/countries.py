"""Country names and codes as bulk files spell them, mapped to ISO 3166-1 alpha-2.

Snap's ``CountryCode`` holds lower-case English names (``united states``) and Google's geo
targeting ends every item with a country name (``Virginia,United States``). pycountry knows
the ISO names, official names and some common names; the aliases below cover the short names
platforms use that pycountry does not (``Russia``, ``Turkey``, ``Kosovo``) and ``UK``, which
adlib stores as ``GB`` everywhere.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "russia": "RU",
    "turkey": "TR",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "kosovo": "XK",
    "macedonia": "MK",
    "swaziland": "SZ",
    "cape verde": "CV",
    "laos": "LA",
    "syria": "SY",
    "moldova": "MD",
    "tanzania": "TZ",
    "venezuela": "VE",
    "brunei": "BN",
    "palestine": "PS",
    "micronesia": "FM",
    "the bahamas": "BS",
    "bahamas": "BS",
    "the netherlands": "NL",
    "czech republic": "CZ",
    "burma": "MM",
    "vatican city": "VA",
    "north korea": "KP",
    "democratic republic of the congo": "CD",
    "republic of the congo": "CG",
    "east timor": "TL",
    "the gambia": "GM",
    "reunion": "RE",
    "curacao": "CW",
    "st. lucia": "LC",
    "saint kitts and nevis": "KN",
}


@lru_cache(maxsize=4096)
def country_code(name: str) -> str | None:
    """ISO alpha-2 for a country name or code as a platform wrote it, ``None`` if unknown.

    Cached because a bulk file repeats the same few dozen names on every row.
    """
    key = " ".join(name.strip().lower().split())
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        country = pycountry.countries.lookup(key)
    except LookupError:
        return None
    code: str = country.alpha_2
    return code


def is_country_name(name: str) -> bool:
    """Whether ``name`` is a country's name (not merely a code such as ``US`` or ``GB``).

    Geo-splitting must not mistake a state abbreviation like ``DE`` or ``IN`` for a country.
    """
    stripped = name.strip()
    return len(stripped) > 3 and country_code(stripped) is not None
