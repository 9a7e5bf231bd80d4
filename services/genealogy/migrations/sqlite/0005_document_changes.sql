-- The ids of the documents written or deleted in the collections whose decoded documents the
-- service keeps between requests (vitals, which pedigrees read by the thousand), in commit
-- order. A cache asks for the changes after the last sequence number it has seen and drops
-- those documents; triggers record every writer's changes, whichever connection or process
-- made them, in the writing transaction. Only the latest 10,000 are kept: a cache that falls
-- further behind (its mark is older than the oldest row) drops everything.
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    id TEXT NOT NULL
);

CREATE TRIGGER document_changes_insert AFTER INSERT ON documents
WHEN new.collection = 'vitals'
BEGIN
    INSERT INTO document_changes (collection, id) VALUES (new.collection, new.id);
    DELETE FROM document_changes WHERE seq <= last_insert_rowid() - 10000;
END;

CREATE TRIGGER document_changes_update AFTER UPDATE ON documents
WHEN old.collection = 'vitals' OR new.collection = 'vitals'
BEGIN
    INSERT INTO document_changes (collection, id) VALUES (old.collection, old.id);
    DELETE FROM document_changes WHERE seq <= last_insert_rowid() - 10000;
END;

CREATE TRIGGER document_changes_delete AFTER DELETE ON documents
WHEN old.collection = 'vitals'
BEGIN
    INSERT INTO document_changes (collection, id) VALUES (old.collection, old.id);
    DELETE FROM document_changes WHERE seq <= last_insert_rowid() - 10000;
END;
