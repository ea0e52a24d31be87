"""Full-text search over events: summary, reasoning, review notes, the camera's name and the
names of the classes seen. The index is the database's own, kept by triggers
(events/migrations/0011_event_search.py): a tsvector with a GIN index on PostgreSQL, an
FTS5 table on SQLite. Both split text the same way and get the same parsed query, so a
search finds the same events on either.

The grammar is PostgreSQL's websearch_to_tsquery's, parsed here once for both databases
(websearch_to_tsquery itself reads `front-door`, `o'brien` or `0.91` as compound tokens
that SQLite's tokenizer has no equivalent for):

    night porch        both words, anywhere in the event (AND)
    "front door"       the words next to each other, in this order (a phrase)
    person OR car      either side: OR (any case) between two terms; AND binds tighter,
                       so `a b OR c` is (a AND b) OR c
    person -cat        without the word (or -"a phrase"); a term of only exclusions, as in
                       `-cat`, finds every event without it
    front-door         punctuation inside a word splits it into a phrase ("front door")

A word is a run of letters and digits; case does not matter, accents do (`café` is not
`cafe`); everything else separates words. There are no prefixes, stems or wildcards:
`walk` does not find `walking`. An OR that does not stand between two terms is the word
"or"; a quoted "or" is always the word.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from events.models import Event

SEARCH_MAX_LENGTH = 256
# Ranking scores every row it is given, and no index can say which rows rank best: a word in
# nearly every event (a class name: `person`) had all 100 k scored to keep 50, ~110 ms on
# PostgreSQL (docs/BENCHMARKS.md, API reads). So the newest this many matches are ranked,
# on both databases alike; the filters narrow before the cut. A household searching a
# common word wants the recent events anyway; a rarer word has fewer matches than this.
RANK_NEWEST = 2000
FTS_TABLE = "events_event_search"


@dataclass(frozen=True)
class SearchTerm:
    """A word or a quoted phrase as typed (the database splits it into words)."""

    text: str
    exclude: bool = False


# A search: alternatives (OR), each a list of terms that must all hold (AND).
Alternatives = list[list[SearchTerm]]


@dataclass(frozen=True)
class _Token:
    text: str
    exclude: bool
    quoted: bool


def _has_word(text: str) -> bool:
    # Letters and decimal digits: what both databases' tokenizers keep (see the migration).
    return any(unicodedata.category(ch)[0] == "L" or unicodedata.category(ch) in ("Nd", "Nl") for ch in text)


def _tokens(q: str) -> list[_Token]:
    tokens: list[_Token] = []
    exclude = False
    i, end = 0, len(q)
    while i < end:
        ch = q[i]
        if ch.isspace():
            i += 1
        elif ch == "-":  # starts a term (`-cat`, `- cat`, `-"a phrase"`); inside a word it is a separator
            exclude = True
            i += 1
        elif ch == '"':  # a phrase, to the next quote or the end
            close = q.find('"', i + 1)
            close = end if close < 0 else close
            tokens.append(_Token(q[i + 1 : close], exclude, quoted=True))
            exclude, i = False, close + 1
        else:
            j = i
            while j < end and not q[j].isspace() and q[j] != '"':
                j += 1
            tokens.append(_Token(q[i:j], exclude, quoted=False))
            exclude, i = False, j
    return tokens


def search_parse(q: str) -> Alternatives:
    """The search `q` as alternatives of terms (the grammar is in this module's docstring).
    Raises ValueError, with a message to show the user, for a search with nothing to look
    for or longer than SEARCH_MAX_LENGTH characters."""
    q = q.replace("\x00", " ")  # PostgreSQL text cannot hold it; a separator like any other
    if not q.strip():
        raise ValueError("empty search")
    if len(q) > SEARCH_MAX_LENGTH:
        raise ValueError(f"search too long: at most {SEARCH_MAX_LENGTH} characters")
    tokens = [t for t in _tokens(q) if _has_word(t.text)]
    if not tokens:
        raise ValueError("nothing to search for: the search has no letters or digits")
    alternatives: Alternatives = [[]]
    k = 0
    while k < len(tokens):
        token = tokens[k]
        is_or = not token.quoted and not token.exclude and token.text.lower() == "or"
        if is_or and alternatives[-1] and k + 1 < len(tokens):
            # The term after an OR is a term even when it reads "or" (`a or or` = a OR "or").
            k += 1
            token = tokens[k]
            alternatives.append([])
        alternatives[-1].append(SearchTerm(token.text, token.exclude))
        k += 1
    return alternatives


def event_search(*, q: str, events: QuerySet[Event] | None = None, limit: int = 50) -> list[Event]:
    """The events matching the search `q` (grammar: this module's docstring), best first
    among the newest RANK_NEWEST matches, each with `rank` (higher is better: ts_rank on
    PostgreSQL, bm25 on SQLite; a rank compares events of one search, not across
    databases); ties newest first. `events`
    narrows the search (camera, level, dates: any filters, no slice); its select_related
    and prefetch_related apply to the events returned. Raises ValueError with a message
    to show the user (a 400) for a search with nothing to look for or too long."""
    alternatives = search_parse(q)
    if limit < 1:
        raise ValueError("limit must be at least 1")
    events = Event.objects.all() if events is None else events
    if connection.vendor == "postgresql":
        return _postgresql(alternatives, events, limit)
    if connection.vendor == "sqlite":
        return _sqlite(alternatives, events, limit)
    raise NotImplementedError(f"event search on {connection.vendor}")


# --- PostgreSQL ------------------------------------------------------------------------------


def _tsquery(alternatives: Alternatives) -> tuple[str, list[str]]:
    """The search as a tsquery expression: each term through the same function as the
    events' text (events_search_text), a phrase of its words; && within an alternative,
    !! for an exclusion, || between alternatives."""
    sql, params = [], []
    for terms in alternatives:
        parts = []
        for term in terms:
            phrase = "phraseto_tsquery('simple'::regconfig, events_search_text(%s))"
            parts.append(f"(!!{phrase})" if term.exclude else phrase)
            params.append(term.text)
        sql.append("(" + " && ".join(parts) + ")")
    return "(" + " || ".join(sql) + ")", params


def _postgresql(alternatives: Alternatives, events: QuerySet[Event], limit: int) -> list[Event]:
    """The newest matches found first and kept (MATERIALIZED: inlined, PostgreSQL plans the
    ranking and the cut together and can pick a plan that scores every match), then ranked."""
    tsquery, params = _tsquery(alternatives)
    table = Event._meta.db_table
    matching = events.filter(RawSQL(f"{table}.search_vector @@ {tsquery}", params, output_field=BooleanField()))
    newest = matching.order_by("-started_at", "-id").values_list("id", flat=True)[:RANK_NEWEST]
    newest_sql, newest_params = newest.query.sql_with_params()
    sql = (
        f"WITH newest AS MATERIALIZED ({newest_sql})"
        f" SELECT e.id, ts_rank(e.search_vector, {tsquery}) AS rank FROM {table} AS e JOIN newest ON newest.id = e.id"
        " ORDER BY rank DESC, e.started_at DESC, e.id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*newest_params, *params, limit])
        return _in_rank_order(events, dict(cursor.fetchall()))


def _in_rank_order(events: QuerySet[Event], ranks: dict[int, float]) -> list[Event]:
    """The events of `ranks` (id -> rank, best first) in that order, each with its `rank`,
    read through `events` so that its select_related and prefetch_related apply."""
    found = events.filter(pk__in=ranks).in_bulk()
    ordered = [found[pk] for pk in ranks if pk in found]
    for event in ordered:
        event.rank = ranks[event.pk]  # type: ignore[attr-defined]
    return ordered


# --- SQLite ----------------------------------------------------------------------------------


def _phrase(term: SearchTerm) -> str:
    # FTS5 reads everything inside double quotes as text to split into words: no user input
    # becomes FTS5 syntax.
    return '"' + term.text.replace('"', '""') + '"'


def _match_any(terms: list[SearchTerm]) -> str:
    return "(" + " OR ".join(_phrase(t) for t in terms) + ")"


def _sqlite(alternatives: Alternatives, events: QuerySet[Event], limit: int) -> list[Event]:
    """One FTS5 query for the alternatives with a term to find, ranked by bm25, computed
    once (MATERIALIZED: bm25 evaluated per joined row would read the whole index each time)
    and joined to the narrowed events. An alternative of only exclusions cannot be an FTS5
    query (NOT needs a left side): it is `id NOT IN` the events matching any of its terms,
    and ranks 0."""
    findable, exclusions_only = [], []
    for terms in alternatives:
        wanted = [t for t in terms if not t.exclude]
        unwanted = [t for t in terms if t.exclude]
        if not wanted:
            exclusions_only.append(_match_any(unwanted))
            continue
        expression = "(" + " AND ".join(_phrase(t) for t in wanted) + ")"
        findable.append(f"({expression} NOT {_match_any(unwanted)})" if unwanted else expression)
    base_sql, base_params = events.order_by().values_list("id", "started_at").query.sql_with_params()
    match = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
    sql: list[str] = []
    params: list[str | int] = []
    if findable:
        sql.append(
            f"WITH hits AS MATERIALIZED (SELECT rowid AS id, -bm25({FTS_TABLE}) AS rank FROM {FTS_TABLE}"
            f" WHERE {FTS_TABLE} MATCH %s)"
        )
        params.append(" OR ".join(findable))
    rank = "coalesce(hits.rank, 0.0)" if findable else "0.0"
    sql.append(f"SELECT e.id AS id, {rank} AS rank, e.started_at AS started_at FROM ({base_sql}) AS e")
    params.extend(base_params)
    if not exclusions_only:
        sql.append("JOIN hits ON hits.id = e.id")
    else:
        if findable:
            sql.append("LEFT JOIN hits ON hits.id = e.id")
        conditions = ["hits.id IS NOT NULL"] if findable else []
        conditions += [f"e.id NOT IN ({match})" for _ in exclusions_only]
        sql.append("WHERE " + " OR ".join(conditions))
        params.extend(exclusions_only)
    sql.append("ORDER BY e.started_at DESC, e.id DESC LIMIT %s")  # the newest matches are ranked
    sql = [f"SELECT id, rank FROM ({chr(10).join(sql)}) ORDER BY rank DESC, started_at DESC, id DESC LIMIT %s"]
    params += [RANK_NEWEST, limit]
    try:
        with connection.cursor() as cursor:
            cursor.execute("\n".join(sql), params)
            ranks: dict[int, float] = dict(cursor.fetchall())
    except DatabaseError as error:
        if "fts5" not in str(error):
            raise
        raise ValueError("this search cannot be run") from error  # quoted terms only: not expected
    return _in_rank_order(events, ranks)
