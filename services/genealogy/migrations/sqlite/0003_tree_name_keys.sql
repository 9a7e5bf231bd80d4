-- `tree_name` keys (tree id, U+0001, a name-token prefix of 1 to 4 characters) for persons
-- stored before they existed; new writes get them from the codec (Person::name_prefixes). A
-- short-prefix search is then one index range with one entry per person in name order.
-- substr and length count characters, like the codec's char-wise prefixes.
INSERT OR IGNORE INTO document_keys (collection, key, value, sort, id)
SELECT n.collection, 'tree_name', t.value || char(1) || substr(n.value, 1, l.len), n.sort, n.id
FROM document_keys n
JOIN document_keys t ON t.collection = n.collection AND t.id = n.id AND t.key = 'tree'
JOIN (SELECT 1 AS len UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) l
WHERE n.collection = 'persons' AND n.key = 'name' AND length(n.value) >= l.len;
