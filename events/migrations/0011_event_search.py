"""Full-text search over events (events/search.py), kept by the database itself: an event's
words are its summary, reasoning, review notes, its camera's name and the names of the
classes it saw, and triggers keep them current, so that no write path (services, the admin,
bulk updates, COPY, a camera renamed) can leave the index behind.

PostgreSQL: a tsvector column events_event.search_vector built with the `simple`
configuration (no stemming, no stop words), a GIN index on it, triggers on events_event
and cameras_camera. The column is not a model field: SQLite has no such type, and the
model stays the same on both databases.

SQLite: an FTS5 table events_event_search (rowid = the event's id) holding the same text,
kept by triggers on events_event (insert, update, delete) and cameras_camera.

Both must split text into the same words, or one search finds different events on each.
SQLite's tokenizer decides: a word is a run of letters and digits (categories L*, Nd, Nl),
case-folded, accents kept. PostgreSQL's parser would read `front-door`, `3:02`, `0.91`,
`a@b.org` or `o'brien` as compound tokens of its own, so its text is first reduced to words
and spaces: every character SQLite's tokenizer separates words with (SEPARATORS, measured
from SQLite in the Latin, punctuation, symbol, CJK punctuation, fullwidth and emoji blocks)
becomes a space. tests/events/test_search.py checks the two character by character.
The first TEXT_LIMIT characters of an event's text are indexed (a tsvector holds at most
1 MB; an event's text is a few hundred characters).

On SQLite a later migration that rebuilds events_event or cameras_camera (Django's table
remake, e.g. for a NOT NULL field added or a field altered) drops their triggers with the
old table: such a migration must end with RunPython(reinstall_sqlite) from this module
(importlib.import_module("events.migrations.0011_event_search")). The search tests fail
while the triggers are missing."""

from django.db import migrations

TOKENIZE = "unicode61 remove_diacritics 0 categories 'L* Nd Nl'"
TEXT_LIMIT = 100_000
# fmt: off
SEPARATORS = (
    (0x0001, 0x002F), (0x003A, 0x0040), (0x005B, 0x0060), (0x007B, 0x00A9), (0x00AB, 0x00B4), (0x00B6, 0x00B9),
    (0x00BB, 0x00BF), (0x00D7, 0x00D7), (0x00F7, 0x00F7), (0x02C2, 0x02C5), (0x02D2, 0x02DF), (0x02E5, 0x02EB),
    (0x02ED, 0x02ED), (0x02EF, 0x02FF), (0x0305, 0x0305), (0x030D, 0x030E), (0x0310, 0x0310), (0x0312, 0x031A),
    (0x031C, 0x0322), (0x0329, 0x032C), (0x032F, 0x032F), (0x0332, 0x036F), (0x2000, 0x2064), (0x206A, 0x2070),
    (0x2074, 0x207E), (0x2080, 0x208E), (0x20A0, 0x20B9), (0x20D0, 0x20F0), (0x2100, 0x2101), (0x2103, 0x2106),
    (0x2108, 0x2109), (0x2114, 0x2114), (0x2116, 0x2118), (0x211E, 0x2123), (0x2125, 0x2125), (0x2127, 0x2127),
    (0x2129, 0x2129), (0x212E, 0x212E), (0x213A, 0x213B), (0x2140, 0x2144), (0x214A, 0x214D), (0x214F, 0x215F),
    (0x2189, 0x2189), (0x2190, 0x23F3), (0x2400, 0x2426), (0x2440, 0x244A), (0x2460, 0x26FF), (0x2701, 0x2B4C),
    (0x2B50, 0x2B59), (0x2E00, 0x2E2E), (0x2E30, 0x2E3B), (0x3000, 0x3004), (0x3008, 0x3020), (0x302A, 0x3030),
    (0x3036, 0x3037), (0x303D, 0x303F), (0xFE00, 0xFE19), (0xFE20, 0xFE26), (0xFE30, 0xFE52), (0xFE54, 0xFE66),
    (0xFE68, 0xFE6B), (0xFEFF, 0xFEFF), (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),
    (0xFFE0, 0xFFE6), (0xFFE8, 0xFFEE), (0x1F000, 0x1F02B), (0x1F030, 0x1F093), (0x1F0A0, 0x1F0AE),
    (0x1F0B1, 0x1F0BE), (0x1F0C1, 0x1F0CF), (0x1F0D1, 0x1F0DF), (0x1F100, 0x1F10A), (0x1F110, 0x1F12E),
    (0x1F130, 0x1F16B), (0x1F170, 0x1F19A), (0x1F1E6, 0x1F202), (0x1F210, 0x1F23A), (0x1F240, 0x1F248),
    (0x1F250, 0x1F251), (0x1F300, 0x1F320), (0x1F330, 0x1F335), (0x1F337, 0x1F37C), (0x1F380, 0x1F393),
    (0x1F3A0, 0x1F3C4), (0x1F3C6, 0x1F3CA), (0x1F3E0, 0x1F3F0), (0x1F400, 0x1F43E), (0x1F440, 0x1F440),
    (0x1F442, 0x1F4F7), (0x1F4F9, 0x1F4FC), (0x1F500, 0x1F53D), (0x1F540, 0x1F543), (0x1F550, 0x1F567),
    (0x1F5FB, 0x1F640), (0x1F645, 0x1F64F), (0x1F680, 0x1F6C5), (0x1F700, 0x1F773),
)
# fmt: on
TEXT_COLUMNS = ("summary", "reasoning", "review_notes", "classes", "camera_id")


def separators_regex() -> str:
    """SEPARATORS as a PostgreSQL regular expression (\\uXXXX and \\UXXXXXXXX escapes)."""

    def char(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return "[" + "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in SEPARATORS) + "]+"


# --- PostgreSQL ----------------------------------------------------------------------------

PG_INSTALL = [
    "ALTER TABLE events_event ADD COLUMN search_vector tsvector",
    # Words and spaces only, for documents and queries alike (events/search.py).
    f"""CREATE FUNCTION events_search_text(value text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT regexp_replace(value, '{separators_regex()}', ' ', 'g') $$""",
    # The class names are the text of a JSON array of its keys (brackets, quotes and commas
    # are separators), in jsonb's order: by length in bytes, then bytes. No subquery, so
    # PostgreSQL inlines the function where it is called, instead of planning it each time.
    f"""CREATE FUNCTION events_event_search_vector(
            summary text, reasoning text, review_notes text, camera_name text, classes jsonb
        ) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT to_tsvector('simple'::regconfig, events_search_text(left(concat_ws(' ',
            summary, reasoning, review_notes, camera_name,
            CASE WHEN jsonb_typeof(classes) = 'object'
                THEN jsonb_path_query_array(classes, '$.keyvalue().key')::text END
        ), {TEXT_LIMIT}))) $$""",
    """UPDATE events_event AS e SET search_vector = events_event_search_vector(
        e.summary, e.reasoning, e.review_notes, c.name, e.classes)
        FROM cameras_camera AS c WHERE c.id = e.camera_id""",
    "CREATE INDEX event_search_vector ON events_event USING gin (search_vector)",
    # The camera's name first, on its own: with a subquery among its arguments the call would
    # be planned again for every row.
    """CREATE FUNCTION events_event_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            camera_name text;
        BEGIN
            SELECT name INTO camera_name FROM cameras_camera WHERE id = NEW.camera_id;
            NEW.search_vector := events_event_search_vector(
                NEW.summary, NEW.reasoning, NEW.review_notes, camera_name, NEW.classes);
            RETURN NEW;
        END $$""",
    """CREATE TRIGGER events_event_search_insert BEFORE INSERT ON events_event
        FOR EACH ROW EXECUTE FUNCTION events_event_search_refresh()""",
    # Every save() names every column: the WHEN skips the saves that change none of the text.
    f"""CREATE TRIGGER events_event_search_update BEFORE UPDATE OF {", ".join(TEXT_COLUMNS)} ON events_event
        FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in TEXT_COLUMNS)})
        EXECUTE FUNCTION events_event_search_refresh()""",
    # A rename rewrites the camera's events. An insert does too: a foreign key is checked at
    # commit, so a fixture may load an event before its camera.
    """CREATE FUNCTION events_camera_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE events_event SET search_vector = events_event_search_vector(
                summary, reasoning, review_notes, NEW.name, classes)
            WHERE camera_id = NEW.id;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER events_camera_search_insert AFTER INSERT ON cameras_camera
        FOR EACH ROW EXECUTE FUNCTION events_camera_search_refresh()""",
    """CREATE TRIGGER events_camera_search_rename AFTER UPDATE OF name ON cameras_camera
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION events_camera_search_refresh()""",
]

PG_UNINSTALL = [
    "DROP TRIGGER IF EXISTS events_camera_search_rename ON cameras_camera",
    "DROP TRIGGER IF EXISTS events_camera_search_insert ON cameras_camera",
    "DROP TRIGGER IF EXISTS events_event_search_update ON events_event",
    "DROP TRIGGER IF EXISTS events_event_search_insert ON events_event",
    "DROP FUNCTION IF EXISTS events_camera_search_refresh()",
    "DROP FUNCTION IF EXISTS events_event_search_refresh()",
    "DROP INDEX IF EXISTS event_search_vector",
    "ALTER TABLE events_event DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS events_event_search_vector(text, text, text, text, jsonb)",
    "DROP FUNCTION IF EXISTS events_search_text(text)",
]

# --- SQLite --------------------------------------------------------------------------------

SQLITE_TRIGGERS = (
    "events_event_search_insert",
    "events_event_search_update",
    "events_event_search_delete",
    "events_camera_search_insert",
    "events_camera_search_rename",
)


def sqlite_text(event: str, camera_name: str) -> str:
    """The text of the event row `event` (NEW, or a table alias), as PostgreSQL builds it:
    class names ordered as jsonb orders keys."""
    classes = f"{event}.classes"
    keys = (
        f"(SELECT group_concat(key, ' ') FROM (SELECT key FROM json_each("
        f"CASE WHEN json_valid({classes}) THEN CASE json_type({classes}) WHEN 'object' THEN {classes} END END"
        f") ORDER BY length(CAST(key AS BLOB)), key))"
    )
    parts = [f"{event}.summary", f"{event}.reasoning", f"{event}.review_notes", camera_name, keys]
    text = " || ' ' || ".join(f"coalesce({part}, '')" for part in parts)
    return f"substr({text}, 1, {TEXT_LIMIT})"


def sqlite_reindex_camera(camera: str) -> str:
    return (
        f"DELETE FROM events_event_search WHERE rowid IN (SELECT id FROM events_event WHERE camera_id = {camera}.id);"
        f" INSERT INTO events_event_search (rowid, body) SELECT e.id, {sqlite_text('e', f'{camera}.name')}"
        f" FROM events_event AS e WHERE e.camera_id = {camera}.id;"
    )


NEW_CAMERA_NAME = "(SELECT name FROM cameras_camera WHERE id = NEW.camera_id)"
SQLITE_INSTALL = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
    f'CREATE VIRTUAL TABLE IF NOT EXISTS events_event_search USING fts5(body, tokenize = "{TOKENIZE}")',
    "DELETE FROM events_event_search",
    f"""INSERT INTO events_event_search (rowid, body)
        SELECT e.id, {sqlite_text("e", "c.name")}
        FROM events_event AS e LEFT JOIN cameras_camera AS c ON c.id = e.camera_id""",
    f"""CREATE TRIGGER events_event_search_insert AFTER INSERT ON events_event BEGIN
        INSERT INTO events_event_search (rowid, body) VALUES (NEW.id, {sqlite_text("NEW", NEW_CAMERA_NAME)});
        END""",
    f"""CREATE TRIGGER events_event_search_update AFTER UPDATE OF {", ".join(TEXT_COLUMNS)} ON events_event
        WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in TEXT_COLUMNS)} BEGIN
        DELETE FROM events_event_search WHERE rowid = OLD.id;
        INSERT INTO events_event_search (rowid, body) VALUES (NEW.id, {sqlite_text("NEW", NEW_CAMERA_NAME)});
        END""",
    """CREATE TRIGGER events_event_search_delete AFTER DELETE ON events_event BEGIN
        DELETE FROM events_event_search WHERE rowid = OLD.id;
        END""",
    f"""CREATE TRIGGER events_camera_search_insert AFTER INSERT ON cameras_camera BEGIN
        {sqlite_reindex_camera("NEW")}
        END""",
    f"""CREATE TRIGGER events_camera_search_rename AFTER UPDATE OF name ON cameras_camera
        WHEN OLD.name IS NOT NEW.name BEGIN
        {sqlite_reindex_camera("NEW")}
        END""",
]

SQLITE_UNINSTALL = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
    "DROP TABLE IF EXISTS events_event_search",
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL}.get(vendor, []):
        schema_editor.execute(sql)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": PG_UNINSTALL, "sqlite": SQLITE_UNINSTALL}.get(vendor, []):
        schema_editor.execute(sql)


def reinstall_sqlite(apps, schema_editor):
    """For a later migration that rebuilt events_event or cameras_camera on SQLite: the
    triggers again, and the index rebuilt. Nothing to do on PostgreSQL."""
    if schema_editor.connection.vendor == "sqlite":
        install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("events", "0010_assess_busy_index"), ("cameras", "0005_ingest_camera_accepted")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
