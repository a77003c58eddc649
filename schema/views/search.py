"""The full-text search index: SQLite FTS5 tables, PostgreSQL tsvector GIN indexes.

What is searchable: the text of an ad's creatives (body, link title, description and caption
of every card), its advertiser's name and its funder's name. Words are runs of letters and
digits; case is ignored, accents are not (``école`` does not match ``ecole``), on both
engines. There is no stemming: ads are in many languages.

SQLite
    ``ad_search`` (FTS5, ``rowid`` = ``ads.id``) holds one document per ad with creative text.
    Rewriting it takes a few statements per loaded page, so the loader calls
    :func:`index_ads` for the ads it inserted or changed (bulk platforms
    without creative text cost one empty lookup per 900 ads). ``advertiser_search`` and
    ``funder_search`` (``rowid`` = the row's id) follow their tables through triggers: both
    tables are small and written outside the ad path.
PostgreSQL
    GIN indexes on ``to_tsvector('simple', ...)`` expressions over ``ad_creatives``,
    ``advertisers`` and ``funders``: PostgreSQL keeps them current on every write, so the
    loader does nothing. Punctuation is turned into spaces first so that PostgreSQL's parser
    splits ``www.example-1.org`` into words the way FTS5 does (it would otherwise keep a
    host name as one token).

Queries must use :func:`pg_vector` exactly as the indexes do, or PostgreSQL will not use them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection

#: The SQLite FTS5 tables (each also owns shadow tables named ``<table>_<suffix>``).
SQLITE_TABLES = ("ad_search", "advertiser_search", "funder_search")
_SHADOW = re.compile(r"^(ad|advertiser|funder)_search(_(data|idx|content|docsize|config))?$")

#: The PostgreSQL expression indexes.
PG_INDEXES = ("ix_ad_creatives_search", "ix_advertisers_search", "ix_funders_search")

#: Creative columns whose text is searchable, in document order.
CREATIVE_TEXT_COLUMNS = ("body", "link_title", "link_description", "link_caption")

_TOKENIZE = "tokenize = 'unicode61 remove_diacritics 0'"


def pg_vector(*columns: str) -> str:
    """The tsvector expression the PostgreSQL indexes are built on, over ``columns``."""
    joined = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    return f"to_tsvector('simple'::regconfig, regexp_replace({joined}, '[[:punct:]]+', ' ', 'g'))"


def _sqlite_document() -> str:
    """One ad's creative text, cards in order, as SQL over ``ad_creatives`` rows ``cr``."""
    return " || ' ' || ".join(f"coalesce(cr.{c}, '')" for c in CREATIVE_TEXT_COLUMNS)


#: Inserts the documents of the ads selected by ``{where}`` (a condition on ``cr.ad_id``).
SQLITE_INDEX_ADS = (
    "INSERT INTO ad_search (rowid, text) "
    "SELECT ad_id, group_concat(doc, ' ') FROM ("
    f"SELECT cr.ad_id, {_sqlite_document()} AS doc FROM ad_creatives cr "
    "WHERE {where} ORDER BY cr.ad_id, cr.position"
    ") GROUP BY ad_id HAVING trim(group_concat(doc, '')) <> ''"
)


def _sqlite_name_index(table: str, index: str) -> list[str]:
    """An FTS5 table over ``table.name`` with the triggers that keep it current."""
    fill = f"INSERT INTO {index} (rowid, name) VALUES (new.id, new.name);"
    return [
        f"CREATE VIRTUAL TABLE {index} USING fts5(name, {_TOKENIZE})",
        f"INSERT INTO {index} (rowid, name) SELECT id, name FROM {table}",
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN {fill} END",
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF name ON {table} BEGIN "
        f"DELETE FROM {index} WHERE rowid = old.id; {fill} END",
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN "
        f"DELETE FROM {index} WHERE rowid = old.id; END",
    ]


def create_search_index(conn: Connection) -> None:
    """Create the search objects and index the rows already in the database."""
    if conn.dialect.name == "sqlite":
        statements = [
            f"CREATE VIRTUAL TABLE ad_search USING fts5(text, {_TOKENIZE})",
            SQLITE_INDEX_ADS.format(where="1 = 1"),
            *_sqlite_name_index("advertisers", "advertiser_search"),
            *_sqlite_name_index("funders", "funder_search"),
        ]
    else:
        statements = [
            f"CREATE INDEX ix_ad_creatives_search ON ad_creatives "
            f"USING gin (({pg_vector(*CREATIVE_TEXT_COLUMNS)}))",
            f"CREATE INDEX ix_advertisers_search ON advertisers USING gin (({pg_vector('name')}))",
            f"CREATE INDEX ix_funders_search ON funders USING gin (({pg_vector('name')}))",
        ]
    for statement in statements:
        conn.exec_driver_sql(statement)


def drop_search_index(conn: Connection) -> None:
    """Remove every search object (on SQLite the triggers first, then the FTS5 tables)."""
    if conn.dialect.name == "sqlite":
        for index in ("advertiser_search", "funder_search"):
            for event in ("insert", "update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {index}_{event}")
        for table in SQLITE_TABLES:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    else:
        for index in PG_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")


#: Ads per statement when re-indexing (bound parameters stay under SQLite's limit).
INDEX_CHUNK = 900


def index_ads(conn: Connection, ad_ids: Sequence[int]) -> None:
    """Rebuild the search documents of ``ad_ids`` (new or changed ads) inside the caller's
    transaction, after their creatives were written.

    SQLite only: PostgreSQL's GIN indexes follow the rows themselves. Ads without creative text
    get no document, so a bulk page of text-less ads costs one lookup per chunk.
    """
    if conn.dialect.name != "sqlite" or not ad_ids:
        return
    for start in range(0, len(ad_ids), INDEX_CHUNK):
        part = tuple(ad_ids[start : start + INDEX_CHUNK])
        marks = ", ".join("?" * len(part))
        conn.exec_driver_sql(f"DELETE FROM ad_search WHERE rowid IN ({marks})", part)
        conn.exec_driver_sql(SQLITE_INDEX_ADS.format(where=f"cr.ad_id IN ({marks})"), part)


def is_search_object(name: str | None) -> bool:
    """Whether ``name`` is one of the search tables (or their shadow tables) or indexes."""
    return bool(name) and (bool(_SHADOW.match(name or "")) or name in PG_INDEXES)
