"""Numbered schema migrations, applied in order on open. ``PRAGMA user_version`` is the schema
version. Vector tables are not here: their dimension belongs to the database's model, so they
are created when the model is recorded (see ``Store.init_model``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

Migration = Callable[[apsw.Connection], None]


def scalar(db: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row (raises if there is no row)."""
    row = db.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"no row for {sql!r}")
    return row[0]


MIGRATIONS: list[tuple[int, Migration]] = []


def migration(number: int) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((number, fn))
        return fn

    return register


@migration(1)
def m001_initial(db: apsw.Connection) -> None:
    db.execute(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            content TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            type TEXT NOT NULL DEFAULT 'note',
            project TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'tool'
                CHECK (source IN ('tool', 'hook', 'user', 'cli', 'lifecycle', 'import')),
            session_id TEXT,
            state TEXT NOT NULL DEFAULT 'buffer'
                CHECK (state IN ('buffer', 'proven', 'superseded', 'expired', 'deleted')),
            protected INTEGER NOT NULL DEFAULT 0,
            embedded INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_recalled_at REAL,
            recall_count INTEGER NOT NULL DEFAULT 0,
            metadata TEXT NOT NULL DEFAULT '{}'
        );
        CREATE UNIQUE INDEX memories_project_hash ON memories (project, content_hash);
        CREATE INDEX memories_project_state ON memories (project, state, created_at);
        CREATE INDEX memories_unembedded ON memories (embedded) WHERE embedded = 0;

        CREATE TABLE memory_tags (
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (memory_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX memory_tags_tag ON memory_tags (tag, memory_id);

        -- Links between memories (filled by the lifecycle's connect step).
        CREATE TABLE links (
            source_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            target_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            similarity REAL NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (source_id, target_id),
            CHECK (source_id != target_id)
        ) WITHOUT ROWID;
        CREATE INDEX links_target ON links (target_id, source_id);

        -- Full-precision vectors (float32 little-endian); vec0 holds the binary index.
        CREATE TABLE memory_vectors (
            memory_id INTEGER PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE,
            embedding BLOB NOT NULL
        );

        CREATE VIRTUAL TABLE memories_fts USING fts5 (
            content, tags, content='memories', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, content, tags) VALUES (new.id, new.content, new.tags);
        END;
        CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, content, tags)
            VALUES ('delete', old.id, old.content, old.tags);
        END;
        CREATE TRIGGER memories_au AFTER UPDATE OF content, tags ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, content, tags)
            VALUES ('delete', old.id, old.content, old.tags);
            INSERT INTO memories_fts (rowid, content, tags) VALUES (new.id, new.content, new.tags);
        END;
        """
    )


def latest_version() -> int:
    return max(number for number, _ in MIGRATIONS)


def apply(db: apsw.Connection) -> int:
    """Apply pending migrations, each in its own immediate transaction; return the version."""
    numbers = [n for n, _ in MIGRATIONS]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    if scalar(db, "PRAGMA user_version") >= numbers[-1]:
        return int(numbers[-1])  # up to date: no write lock needed (another process may hold it)
    for number, fn in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            current = scalar(db, "PRAGMA user_version")
            if current >= number:
                db.execute("COMMIT")
                continue
            fn(db)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return int(scalar(db, "PRAGMA user_version"))


@migration(2)
def m002_lifecycle(db: apsw.Connection) -> None:
    db.execute(
        """
        -- Age is counted per project in memories, not in time: seq numbers each project's
        -- memories; a memory's isolation is measured from age_from (reset by a reprieve).
        ALTER TABLE memories ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN age_from INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN reprieves INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN connected INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN state_changed_at REAL;
        CREATE INDEX memories_project_seq ON memories (project, seq);
        CREATE INDEX memories_unconnected ON memories (connected) WHERE connected = 0;
        CREATE TABLE project_counters (project TEXT PRIMARY KEY, seq INTEGER NOT NULL);

        -- The vector of the text left once shared boilerplate is removed (NULL: same as full).
        ALTER TABLE memory_vectors ADD COLUMN topic_hash TEXT;
        ALTER TABLE memory_vectors ADD COLUMN topic_embedding BLOB;

        -- How many memories of a project contain each line shape / label (boilerplate).
        CREATE TABLE line_stats (
            project TEXT NOT NULL, key TEXT NOT NULL, memories INTEGER NOT NULL,
            PRIMARY KEY (project, key)
        ) WITHOUT ROWID;

        CREATE TABLE consolidations (
            id INTEGER PRIMARY KEY,
            project TEXT NOT NULL,
            created_at REAL NOT NULL,
            provider TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL CHECK (status IN ('applied', 'undone')),
            undone_at REAL,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE lineage (
            consolidation_id INTEGER NOT NULL REFERENCES consolidations (id),
            result_id INTEGER NOT NULL REFERENCES memories (id),
            source_id INTEGER NOT NULL REFERENCES memories (id),
            source_prev_state TEXT NOT NULL,
            PRIMARY KEY (result_id, source_id)
        ) WITHOUT ROWID;
        CREATE INDEX lineage_source ON lineage (source_id);
        CREATE INDEX lineage_consolidation ON lineage (consolidation_id);

        CREATE TABLE llm_usage (
            day TEXT NOT NULL, provider TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, provider)
        ) WITHOUT ROWID;

        -- Strong recalls, at most one per memory and context (session or day), for promotion.
        CREATE TABLE recall_events (
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            context TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (memory_id, context)
        ) WITHOUT ROWID;
        """
    )


@migration(3)
def m003_routes(db: apsw.Connection) -> None:
    db.execute(
        """
        -- Each write routing made to a CLAUDE.md / rules file: the hashes before and after and a
        -- backup of the old content, so `route --undo-file` restores it exactly (see routing.py).
        CREATE TABLE route_writes (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            label TEXT NOT NULL,
            root TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('route', 'unroute')),
            created_at REAL NOT NULL,
            before_hash TEXT,
            after_hash TEXT,
            backup TEXT,
            created_dirs TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'undone')),
            undone_at REAL
        );
        CREATE INDEX route_writes_path ON route_writes (path, id);

        -- Where each routed memory went: written into a managed block, or found already present.
        CREATE TABLE routes (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            label TEXT NOT NULL,
            section TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('written', 'present', 'undone')),
            similarity REAL,
            write_id INTEGER REFERENCES route_writes (id),
            unwrite_id INTEGER REFERENCES route_writes (id),
            created_at REAL NOT NULL,
            undone_at REAL
        );
        CREATE INDEX routes_memory ON routes (memory_id, status);

        -- Vectors of target sections and items, by content hash: unchanged text is not re-embedded.
        CREATE TABLE route_embeddings (
            model TEXT NOT NULL,
            path TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            section TEXT NOT NULL,
            embedding BLOB NOT NULL,
            seen_at REAL NOT NULL,
            PRIMARY KEY (model, path, content_hash)
        ) WITHOUT ROWID;
        """
    )


@migration(4)
def m004_recall_context(db: apsw.Connection) -> None:
    db.execute(
        """
        -- Neighbours in a session: prev_id is the memory stored just before this one in the same
        -- project and session; context holds the text of both neighbours (see Store.insert).
        -- A turn like "Yes, last week!" is found through the question it answers.
        ALTER TABLE memories ADD COLUMN prev_id INTEGER;
        ALTER TABLE memories ADD COLUMN context TEXT NOT NULL DEFAULT '';
        CREATE INDEX memories_prev ON memories (prev_id) WHERE prev_id IS NOT NULL;
        CREATE INDEX memories_session ON memories (project, session_id, id)
            WHERE session_id IS NOT NULL;

        -- Existing memories: link each session's memories in id order.
        WITH ordered AS (
            SELECT id,
                   lag(id) OVER w AS prev,
                   substr(coalesce(lag(content) OVER w, ''), 1, 1000) AS before,
                   substr(coalesce(lead(content) OVER w, ''), 1, 1000) AS after
            FROM memories WHERE session_id IS NOT NULL
            WINDOW w AS (PARTITION BY project, session_id ORDER BY id)
        )
        UPDATE memories SET prev_id = ordered.prev,
            context = CASE WHEN ordered.before = '' THEN ordered.after
                           WHEN ordered.after = '' THEN ordered.before
                           ELSE ordered.before || char(10) || ordered.after END
        FROM ordered WHERE memories.id = ordered.id;

        -- The keyword index recall ranks with: the memory's own text and tags, and its
        -- neighbours' text in a column of lower BM25 weight. memories_fts stays as it is for
        -- the searches that want a memory's own words only.
        CREATE VIRTUAL TABLE recall_fts USING fts5 (
            content, tags, context, content='memories', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        INSERT INTO recall_fts (recall_fts) VALUES ('rebuild');
        CREATE TRIGGER recall_fts_ai AFTER INSERT ON memories BEGIN
            INSERT INTO recall_fts (rowid, content, tags, context)
            VALUES (new.id, new.content, new.tags, new.context);
        END;
        CREATE TRIGGER recall_fts_ad AFTER DELETE ON memories BEGIN
            INSERT INTO recall_fts (recall_fts, rowid, content, tags, context)
            VALUES ('delete', old.id, old.content, old.tags, old.context);
        END;
        CREATE TRIGGER recall_fts_au AFTER UPDATE OF content, tags, context ON memories BEGIN
            INSERT INTO recall_fts (recall_fts, rowid, content, tags, context)
            VALUES ('delete', old.id, old.content, old.tags, old.context);
            INSERT INTO recall_fts (rowid, content, tags, context)
            VALUES (new.id, new.content, new.tags, new.context);
        END;
        """
    )


@migration(5)
def m005_labels(db: apsw.Connection) -> None:
    """The name label a memory opens with ("Caroline: ..."), lower-cased (see query.label_of):
    recall lifts memories whose label the query names, and leaves such names out of BM25."""
    from mcp_memory.text.labels import label_of

    db.execute(
        """
        ALTER TABLE memories ADD COLUMN label TEXT;
        CREATE INDEX memories_label ON memories (label, project) WHERE label IS NOT NULL;
        """
    )
    rows = db.execute("SELECT id, substr(content, 1, 200) FROM memories").fetchall()
    db.executemany(
        "UPDATE memories SET label = ? WHERE id = ?",
        [(label, mid) for mid, head in rows if (label := label_of(str(head))) is not None],
    )


@migration(6)
def m006_anchors(db: apsw.Connection) -> None:
    db.execute(
        """
        -- The repository files each memory is about (see mcp_memory/anchors): where the content
        -- is now (path follows renames) and was when anchored (origin_path), what part of the
        -- file (kind/selector), its fingerprint (git blob id or hash of the lines or symbol),
        -- HEAD then, and the status last decided at the file stat (mtime_ns, size) it was seen.
        CREATE TABLE memory_anchors (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            origin_path TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('file', 'lines', 'symbol')),
            selector TEXT NOT NULL DEFAULT '',
            fingerprint TEXT NOT NULL,
            anchored_commit TEXT,
            anchored_at REAL NOT NULL,
            mtime_ns INTEGER,
            size INTEGER,
            status TEXT NOT NULL DEFAULT 'fresh'
                CHECK (status IN ('fresh', 'edited', 'moved', 'deleted', 'unknown')),
            status_commit TEXT,
            checked_at REAL,
            UNIQUE (memory_id, origin_path, kind, selector)
        );
        CREATE INDEX memory_anchors_memory ON memory_anchors (memory_id);
        """
    )


@migration(7)
def m007_authors(db: apsw.Connection) -> None:
    """Who stored each memory and who may see it (a team database filters on them; a local
    file holds one user's memories, so they are recorded here for export and migration)."""
    db.execute(
        """
        ALTER TABLE memories ADD COLUMN author TEXT NOT NULL DEFAULT '';
        ALTER TABLE memories ADD COLUMN visibility TEXT NOT NULL DEFAULT 'team'
            CHECK (visibility IN ('team', 'private'));
        """
    )
