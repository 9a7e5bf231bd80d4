-- The number of documents per (collection, key, value) for the keys whose listings show a
-- total over a whole tree: a tree's persons (`tree` for members, `open_tree` for outsiders)
-- and short name prefixes (`tree_name`). Counting a 100,000-person tree's index range took as
-- long as reading the page itself; the adapter reads this row instead, and counts the range
-- for every other key (no row here). Triggers keep it in the same transaction as the key rows.
CREATE TABLE key_counts (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (collection, key, value)
) WITHOUT ROWID;

INSERT INTO key_counts (collection, key, value, n)
SELECT collection, key, value, COUNT(*) FROM document_keys
WHERE collection = 'persons' AND key IN ('tree', 'open_tree', 'tree_name')
GROUP BY collection, key, value;

CREATE TRIGGER key_counts_insert AFTER INSERT ON document_keys
WHEN new.collection = 'persons' AND new.key IN ('tree', 'open_tree', 'tree_name')
BEGIN
    INSERT INTO key_counts (collection, key, value, n) VALUES (new.collection, new.key, new.value, 1)
    ON CONFLICT (collection, key, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER key_counts_delete AFTER DELETE ON document_keys
WHEN old.collection = 'persons' AND old.key IN ('tree', 'open_tree', 'tree_name')
BEGIN
    UPDATE key_counts SET n = n - 1
    WHERE collection = old.collection AND key = old.key AND value = old.value;
END;

-- The adapter never updates key rows in place (it deletes and inserts), but a hand-made
-- UPDATE must not leave the counts wrong either.
CREATE TRIGGER key_counts_update AFTER UPDATE OF collection, key, value ON document_keys
BEGIN
    UPDATE key_counts SET n = n - 1
    WHERE collection = old.collection AND key = old.key AND value = old.value
      AND old.collection = 'persons' AND old.key IN ('tree', 'open_tree', 'tree_name');
    INSERT INTO key_counts (collection, key, value, n)
    SELECT new.collection, new.key, new.value, 1
    WHERE new.collection = 'persons' AND new.key IN ('tree', 'open_tree', 'tree_name')
    ON CONFLICT (collection, key, value) DO UPDATE SET n = n + 1;
END;
