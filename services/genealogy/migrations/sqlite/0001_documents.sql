-- Documents of every collection, as JSON, and their index keys.
CREATE TABLE documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    sort TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;

-- One row per (key, value) of a document, carrying the document's sort key so that a listing
-- (a tree's persons by name, a person's history by time) is one ordered index range scan, and a
-- pedigree step (a person's relationships) is one index lookup.
CREATE TABLE document_keys (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    sort TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (collection, key, value, sort, id)
) WITHOUT ROWID;

CREATE INDEX document_keys_by_document ON document_keys (collection, id);
