"""Full-text search over events (events/search.py, events/migrations/0011_event_search.py):
the grammar, what each search finds and in what order, triggers that keep the index
current, input that must never become a database error, and SQLite finding the same
events as PostgreSQL for every search of one corpus (tests/events/search_corpus.py)."""

import importlib
import json
import sqlite3
import unicodedata

import pytest
from django.db import connection

from events.models import Event
from events.search import SEARCH_MAX_LENGTH, SearchTerm, event_search, search_parse
from tests.events import search_corpus as corpus
from tests.support.processes import manage, process_env

migration = importlib.import_module("events.migrations.0011_event_search")

pytestmark = pytest.mark.django_db


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's side of the search (make test runs on PostgreSQL)")


@pytest.fixture
def ids():
    return corpus.build()


# --- The grammar -------------------------------------------------------------------------


def test_the_grammar_reads_phrases_exclusions_and_or_between_two_terms():
    assert search_parse('porch "front door" OR -cat or') == [
        [SearchTerm("porch"), SearchTerm("front door")],
        [SearchTerm("cat", exclude=True), SearchTerm("or")],
    ]


def test_an_or_that_is_not_between_two_terms_is_the_word_or():
    assert search_parse("OR fox") == [[SearchTerm("OR"), SearchTerm("fox")]]
    assert search_parse('fox "or"') == [[SearchTerm("fox"), SearchTerm("or")]]
    assert search_parse("fox -or") == [[SearchTerm("fox"), SearchTerm("or", exclude=True)]]


def test_a_dash_standing_alone_excludes_the_next_term_and_one_inside_a_word_splits_it():
    assert search_parse("fox - cat e-bike") == [
        [SearchTerm("fox"), SearchTerm("cat", exclude=True), SearchTerm("e-bike")]
    ]


def test_terms_without_letters_or_digits_are_dropped():
    assert search_parse('fox ... "" - ! OR cat') == [[SearchTerm("fox")], [SearchTerm("cat")]]


@pytest.mark.parametrize("q", ["", "   ", "\t\n", "\x00"])
def test_an_empty_search_is_refused(q):
    with pytest.raises(ValueError, match="^empty search$"):
        search_parse(q)


@pytest.mark.parametrize("q", ["-", "...", '""', "!!! ???", "²", "🦊"])
def test_a_search_with_no_letters_or_digits_is_refused(q):
    with pytest.raises(ValueError, match="nothing to search for"):
        search_parse(q)


def test_a_search_longer_than_the_limit_is_refused():
    search_parse("x" * SEARCH_MAX_LENGTH)
    with pytest.raises(ValueError, match="too long"):
        search_parse("x" * (SEARCH_MAX_LENGTH + 1))


# --- What a search finds -------------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), corpus.SEARCHES, ids=[q for q, _ in corpus.SEARCHES])
def test_a_search_finds_the_events_with_its_words(ids, q, expected):
    assert set(corpus.found(q, ids)) == expected


def test_an_event_with_the_word_three_times_ranks_above_one_with_it_once(ids):
    events = event_search(q="knock")
    assert [e.pk for e in events] == [ids["knock3"], ids["knock1"]]
    assert events[0].rank > events[1].rank > 0


def test_events_of_equal_rank_come_newest_first(ids):
    needs_postgresql()  # bm25 weighs the length of each event's text: no tie there
    events = event_search(q="cat")
    assert [e.pk for e in events] == [ids["kitchen"], ids["fox"]]
    assert events[0].rank == events[1].rank


def test_a_search_within_narrowed_events_finds_only_those(ids):
    narrowed = Event.objects.filter(camera_id="door").select_related("camera")
    events = event_search(q="person", events=narrowed)
    assert {e.pk for e in events} == {ids["parcel"], ids["knock3"]}
    assert events[0].camera.name == "Front Door"


def test_the_limit_caps_the_events_returned(ids):
    assert len(event_search(q="person", limit=2)) == 2
    with pytest.raises(ValueError):
        event_search(q="person", limit=0)


@pytest.mark.parametrize("q", corpus.BAD_INPUTS, ids=[repr(q)[:40] for q in corpus.BAD_INPUTS])
def test_bad_input_is_searched_or_refused_never_a_database_error(ids, q):
    try:
        found = event_search(q=q)
    except ValueError as error:
        assert str(error)
    else:
        assert all(isinstance(e, Event) for e in found)
    assert Event.objects.count() == len(corpus.EVENTS)


# --- The index follows every change ----------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), corpus.AFTER_CHANGE, ids=[q for q, _ in corpus.AFTER_CHANGE])
def test_the_index_follows_every_change_of_an_events_words(ids, q, expected):
    """A summary saved, notes, reasoning and classes updated, an event moved to another
    camera, a camera renamed, an event deleted (corpus.change)."""
    corpus.change(ids)
    assert set(corpus.found(q, ids)) == expected


def test_a_saved_summary_is_found_by_its_new_words_only(ids):
    event = Event.objects.get(pk=ids["ladder"])
    event.summary = "A badger under the fence."
    event.save()
    assert {e.pk for e in event_search(q="badger")} == {ids["ladder"]}
    assert {e.pk for e in event_search(q="someone")} == set()


def test_a_renamed_cameras_events_are_found_by_its_new_name(ids):
    camera = Event.objects.get(pk=ids["car"]).camera
    camera.name = "Carport West"
    camera.save()
    assert {e.pk for e in event_search(q="carport west")} == {ids["car"], ids["knock1"]}
    assert event_search(q="driveway") == []


# --- PostgreSQL and SQLite agree -------------------------------------------------------------

SQLITE_REINSTALL = """
import importlib, json
from django.db import connection
from events.search import event_search
migration = importlib.import_module("events.migrations.0011_event_search")
def objects():
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE name IN (%s)"
                       % ", ".join("'" + n + "'" for n in (*migration.SQLITE_TRIGGERS, "events_event_search")))
        return sorted(name for _, name in cursor.fetchall())
found = [objects()]
with connection.schema_editor() as editor:
    migration.uninstall(None, editor)
found.append(objects())
with connection.schema_editor() as editor:
    migration.reinstall_sqlite(None, editor)
found += [objects(), len(event_search(q="orchard"))]
print(json.dumps(found))
"""


def test_sqlite_finds_the_same_events_as_postgresql(tmp_path):
    """The corpus, every search, the bad inputs and the changes, on a fresh SQLite database
    migrated to the newest migration in a child process. A later migration that rebuilds
    events_event or cameras_camera on SQLite drops the triggers: this test says so."""
    needs_postgresql()
    env = process_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", REDIS_URL="<unset>")
    manage("migrate", "--noinput", env=env, timeout=120)
    on_sqlite = json.loads(
        manage("shell", "-c", "from tests.events.search_corpus import main; main()", env=env).splitlines()[-1]
    )
    assert on_sqlite == corpus.run_all()

    before, uninstalled, reinstalled, found = json.loads(
        manage("shell", "-c", SQLITE_REINSTALL, env=env).splitlines()[-1]
    )
    assert before == sorted((*migration.SQLITE_TRIGGERS, "events_event_search")), (
        "a migration after 0011_event_search dropped the search triggers on SQLite: end it with its reinstall_sqlite"
    )
    assert (uninstalled, reinstalled, found) == ([], before, 2)


# Where the two differ. Letters folded to different words: SQLite folds the micro sign to Greek
# mu and the long s to s (Unicode case folding), PostgreSQL lowercases dotted capital I to i.
# Characters newer than SQLite's Unicode tables (the bidi isolates, Unicode 6.3) are part of a
# word there, a separator to PostgreSQL's parser.
DIFFERENT = {0x00B5, 0x0130, 0x017F, 0x2066, 0x2067, 0x2068, 0x2069}
# ASCII, Latin-1, Latin Extended A and B, general punctuation, super- and subscripts,
# currency, CJK punctuation, fullwidth ASCII.
BLOCKS = [(0x0001, 0x024F), (0x2000, 0x209C), (0x20A0, 0x20B9), (0x3000, 0x303F), (0xFF01, 0xFF65)]


def test_both_databases_split_text_into_the_same_words():
    """Every character of the blocks real event text is written in, between two letters:
    PostgreSQL's words (events_search_text, then the simple parser) are SQLite's (FTS5 with
    the migration's tokenizer)."""
    needs_postgresql()
    probes = [
        f"a{chr(code)}a"
        for low, high in BLOCKS
        for code in range(low, high + 1)
        if unicodedata.category(chr(code)) != "Cn" and code not in DIFFERENT
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p, array(SELECT lexeme FROM unnest(to_tsvector('simple', events_search_text(p))) ORDER BY lexeme)"
            " FROM unnest(%s::text[]) AS p",
            [probes],
        )
        on_postgresql = {probe: set(words) for probe, words in cursor.fetchall()}
    lite = sqlite3.connect(":memory:")
    lite.execute(f'CREATE VIRTUAL TABLE t USING fts5(body, tokenize = "{migration.TOKENIZE}")')
    lite.execute("CREATE VIRTUAL TABLE words USING fts5vocab(t, 'instance')")
    lite.executemany("INSERT INTO t (rowid, body) VALUES (?, ?)", enumerate(probes))
    on_sqlite: dict[str, set[str]] = {probe: set() for probe in probes}
    for row, word in lite.execute("SELECT doc, term FROM words"):
        on_sqlite[probes[row]].add(word)
    differ = {
        f"U+{ord(p[1]):04X}": (on_postgresql[p], on_sqlite[p]) for p in probes if on_postgresql[p] != on_sqlite[p]
    }
    assert differ == {}
    assert len(probes) > 900


def test_the_migration_undoes_and_redoes_itself():
    needs_postgresql()

    def objects() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'events\\_%%search%%'"
                " UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'events\\_%%search%%'"
                " UNION ALL SELECT indexname FROM pg_indexes WHERE indexname = 'event_search_vector'"
                " UNION ALL SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'events_event' AND column_name = 'search_vector'"
            )
            return sorted(name for (name,) in cursor.fetchall())

    installed = objects()
    assert len(installed) == 10
    with connection.schema_editor() as editor:
        migration.uninstall(None, editor)
    assert objects() == []
    with connection.schema_editor() as editor:
        migration.install(None, editor)
    assert objects() == installed
