-- Documents in a rowid table with a unique (collection, id) index instead of a WITHOUT ROWID
-- table. In a WITHOUT ROWID table every seek compares whole records, and a record that spills
-- onto overflow pages (a bulk import's history entry runs to megabytes) is read in full at
-- every comparison: a 100,000-person import spent most of its time copying such records.
-- SQLite's own guidance is to keep WITHOUT ROWID rows under about 1/20 of a page.
CREATE TABLE documents_by_rowid (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    sort TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (collection, id)
);
INSERT INTO documents_by_rowid (collection, id, body, sort, updated_at)
    SELECT collection, id, body, sort, updated_at FROM documents;
DROP TABLE documents;
ALTER TABLE documents_by_rowid RENAME TO documents;
