"""Name normalisation: one published spelling -> the key exact matching compares.

Steps (docs/actors.md, "Method"): Unicode NFKC, case folding, accents removed; strong
identifiers cut out of the name (a Brazilian CNPJ inside a "paid for by" string); "paid for
by"-style prefixes of the study languages; punctuation to spaces; ``&``/``and``/``et``/``e``/
``y``/``und`` to one token; legal forms at the end of the name.

Legal forms come from ``cleanco``'s term list (maintained, MIT), restricted to the study
countries' entries. Its list is also where it goes wrong for us: it files party acronyms and
common words as legal forms for some country ("PT", "PS", "SD", "ET", "GP"...), and stripping
those would merge "Partido dos Trabalhadores - PT" style names with unrelated ones, so those are
left out (``_NOT_LEGAL_FORMS``). What cleanco lacks for the study countries (Brazil's EIRELI,
"Ltda ME", "Ltda EPP" - never a bare "me"; India's "Private Limited"; Kenya uses the UK forms) is added by hand in
``_MORE_LEGAL_FORMS``. The prefixes are ours: no library lists disclaimer wordings.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from cleanco.clean import strip_punct
from cleanco.termdata import terms_by_country

#: cleanco's country names for the study countries (AR BR CA CL FR IN IT KE GB US; Kenya has
#: no entry: it uses the UK forms).
_STUDY_COUNTRIES = (
    # Germany and Austria too: their agencies and parties appear in the samples (Initiative
    # Media GmbH on Snap, CDU and SPÖ on Google)
    "Germany",
    "Austria",
    "Argentina",
    "Brazil",
    "Canada",
    "Chile",
    "France",
    "India",
    "Italy",
    "United Kingdom",
    "United States of America",
)
#: Entries of cleanco's study-country lists that are party acronyms or words in our languages.
_NOT_LEGAL_FORMS = frozenset(
    {"ad", "adsitz", "ead", "et", "kd", "kda", "sd", "gp", "sp", "ss", "se", "sem", "sep", "ei"}
)
_MORE_LEGAL_FORMS = (
    "eireli",
    "ltda me",
    "ltda epp",
    "eireli me",
    "eireli epp",
    "private limited",
    "pvt ltd",
    "llc",
    "inc",
)

#: Disclaimer prefixes, already normalised (lower case, no accents, punctuation as spaces).
_PREFIXES = (
    "paid for and authorized by",
    "authorized by",
    "authorised by",
    "paid for by",
    "sponsored by",
    "promoted by",
    "funded by",
    "pagado por",
    "pago por",
    "financiado por",
    "pagamento de",
    "propaganda paga por",
    "paye par",
    "finance par",
    "pagato da",
    "finanziato da",
    "committente responsabile",
    "committente",
)

#: Words that join two names: one token for all study languages.
_CONJUNCTIONS = frozenset({"and", "et", "e", "y", "und"})

_CNPJ = re.compile(r"\b(\d{2})\.?(\d{3})\.?(\d{3})/?(\d{4})-?(\d{2})\b")
_CNPJ_LABEL = re.compile(r"\bcnpj\b[\s:.nº°o]*", re.IGNORECASE)
_FEC = re.compile(r"^C\d{8}$")
_EIN = re.compile(r"^\d{2}-?\d{7}$")
_PUBLIC_ID = re.compile(r"^\s*(FEC|EIN)\s+ID\s+(\S+)\s*$", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+")
_DOMAIN = re.compile(r"\b([\w-]{3,})\.(?:com|org|net|info|ie|uk|fr|it|br|ar|cl|in|ke|ca|us|de)\b")
#: "PT - Partido dos Trabalhadores", "Rassemblement National (RN)", "... Österreichs / SPÖ"
_SEGMENTS = re.compile(r"\s+[-\u2013\u2014/|]\s+|\s*[()]\s*")


@cache
def _legal_forms() -> frozenset[tuple[str, ...]]:
    terms: set[tuple[str, ...]] = set()
    for country in _STUDY_COUNTRIES:
        for term in terms_by_country.get(country, []):
            # both spellings: "s.r.l." as "srl" and as "s r l" (dots become spaces here)
            for key in (_term(strip_punct(term)), _term(term)):
                if key and " ".join(key) not in _NOT_LEGAL_FORMS:
                    terms.add(key)
    terms.update(_term(t) for t in _MORE_LEGAL_FORMS)
    return frozenset(terms)


def _term(text: str) -> tuple[str, ...]:
    return _tokens(_fold(text).replace("&", " and "))


def _fold(text: str) -> str:
    """NFKC, case folding and accents removed."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in _NON_WORD.sub(" ", text).replace("_", " ").split() if t)


def cnpjs(name: str) -> list[str]:
    """The CNPJs written inside a name, as 'CNPJ:14digits'."""
    return [f"CNPJ:{''.join(m.groups())}" for m in _CNPJ.finditer(name)]


def identifiers(name: str, raw_ids: list[str] | None = None, entity_id: str = "") -> list[str]:
    """Strong identifiers of a mention, as sorted 'SCHEME:value' strings.

    ``raw_ids`` are a platform's public ids ("FEC ID C00473827", "EIN ID 52-1349353"); other
    registrations ("Registered in US-WI 0106228") are kept verbatim under REG. An
    ``entity_id`` that is an FEC committee id (Snap's CommitteeIdentificationNumber) counts.
    """
    found = set(cnpjs(name))
    for raw in raw_ids or []:
        match = _PUBLIC_ID.match(raw)
        if match:
            scheme, value = match.group(1).upper(), match.group(2)
            found.add(f"{scheme}:{value.replace('-', '') if scheme == 'EIN' else value.upper()}")
        elif raw.strip():
            found.add(f"REG:{' '.join(raw.split()).upper()}")
    if _FEC.match(entity_id.strip().upper()):
        found.add(f"FEC:{entity_id.strip().upper()}")
    elif _EIN.match(entity_id.strip()):
        found.add(f"EIN:{entity_id.strip().replace('-', '')}")
    return sorted(found)


def normalise(name: str) -> str:
    """The comparison key of a published name ('' when nothing is left)."""
    text = _DOMAIN.sub(r"\1", _CNPJ_LABEL.sub(" ", _CNPJ.sub(" ", _fold(name))))
    text = _drop_acronym(text.replace("&", " and ").replace("+", " and "))
    tokens = list(_tokens(text.replace("'", "").replace("\u2019", "")))
    tokens = _strip_prefix(tokens)
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    tokens = _conjunctions(_strip_legal_forms(tokens))
    return " ".join(tokens)


def _conjunctions(tokens: list[str]) -> list[str]:
    last = len(tokens) - 1
    return ["and" if 0 < i < last and t in _CONJUNCTIONS else t for i, t in enumerate(tokens)]


def _drop_acronym(text: str) -> str:
    """A name written twice, spelt out and as its acronym, keeps the spelt-out part.

    Only when the acronym reads as the long part's initials: its first letter starts the long
    part, one of its letters starts the long part's last word, and the rest follow in order
    ("PT - Partido dos Trabalhadores", "Rassemblement National (RN)", "PSOL - Partido
    Socialismo e Liberdade"; not "PS - Partido dos Trabalhadores", not "Labour - Leeds").
    """
    parts = [p.strip() for p in _SEGMENTS.split(text) if p and p.strip()]
    if len(parts) != 2:
        return text
    short, long = sorted(parts, key=len)
    letters = "".join(_tokens(short))
    words = _tokens(long)
    if " " in short or not 2 <= len(letters) <= 6 or not letters.isalpha() or len(words) < 2:
        return text
    head, last = "".join(words[:-1]), words[-1]
    for k in range(1, len(letters)):
        if (
            letters[0] == head[0]
            and letters[k] == last[0]
            and _in_order(letters[1:k], head[1:])
            and _in_order(letters[k + 1 :], last[1:])
        ):
            return long
    return text


def _in_order(letters: str, text: str) -> bool:
    rest = iter(text)
    return all(c in rest for c in letters)


def has_prefix(name: str) -> bool:
    """Whether a published name starts with a "paid for by"-style prefix."""
    tokens = list(_tokens(_fold(name)))
    return _strip_prefix(tokens) != tokens


def _strip_prefix(tokens: list[str]) -> list[str]:
    joined = " ".join(tokens)
    for prefix in _PREFIXES:
        if joined.startswith(prefix + " "):
            return tokens[len(prefix.split()) :]
    return tokens


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """Legal forms at the end (repeatedly: "Ltda ME"), never the whole name."""
    forms = _legal_forms()
    changed = True
    while changed:
        changed = False
        for size in (3, 2, 1):
            if len(tokens) > size and tuple(tokens[-size:]) in forms:
                del tokens[-size:]
                changed = True
                break
        if len(tokens) > 1 and tokens[-1] == "and":
            tokens.pop()
            changed = True
    return tokens
