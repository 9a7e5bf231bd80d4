//! Person history with revert, merge suggestions (accept is a real, undoable merge), and
//! notifications.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codec::{doc_from_value, value_of};
use super::{ChangeSet, Genealogy, GenealogyError, PageRequest, Paged, Result, invalid};
use crate::model::{
    Change, Collection, Event, FamilyTree, HistoryEntry, MergeStatus, MergeSuggestion,
    Notification, Person, Relationship, new_id,
};
use crate::policy::{Actor, tree_access};
use crate::store::{Expect, Order, Query, Write};

/// Which notifications to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationFilter {
    /// Unread only.
    pub unread: bool,
}

/// Creating a merge suggestion.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMergeSuggestion {
    /// The tree both persons are in.
    pub tree_id: String,
    /// One person (the default survivor).
    pub person_a: String,
    /// The other.
    pub person_b: String,
    /// Similarity 0 to 1 (default 1 for suggestions made by hand).
    #[serde(default)]
    pub score: Option<f64>,
    /// Why.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// What accepting a suggestion did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MergeOutcome {
    /// The suggestion, now accepted.
    pub suggestion: MergeSuggestion,
    /// The person that remains.
    pub survivor_id: String,
    /// The person merged into it (now deleted).
    pub merged_id: String,
    /// The history entry recording the merge (revert it, or call undo, to undo the merge).
    pub history_id: String,
}

/// Every id the caller's notifications can be addressed to.
fn recipients(actor: &Actor) -> Vec<String> {
    let mut ids = vec![actor.user_id.clone()];
    ids.extend(actor.email.as_deref().map(super::email_recipient));
    ids
}

impl Genealogy {
    async fn entry_trees(&self, entry: &HistoryEntry) -> Result<Vec<FamilyTree>> {
        self.trees(&mut HashMap::new(), &entry.tree_ids).await
    }

    /// A person's history, newest first (members of one of the person's trees).
    pub async fn person_history(
        &self,
        actor: &Actor,
        person_id: &str,
        page: PageRequest,
    ) -> Result<Paged<HistoryEntry>> {
        let mut q =
            Query::by_key(Collection::History, "person", person_id).page(page.offset, page.limit);
        q.order = Order::SortDesc;
        let (items, total) = self.find::<HistoryEntry>(&q).await?;
        // Deleted persons keep their history; the trees named in it decide who may read it.
        let trees = match self.load::<Person>(person_id).await? {
            Some(p) => self.trees(&mut HashMap::new(), &p.tree_ids).await?,
            None => match items.first() {
                Some(e) => self.entry_trees(e).await?,
                None => Vec::new(),
            },
        };
        if !Self::member_of_any(&trees, actor) {
            return Err(GenealogyError::NotFound("person"));
        }
        Ok(Paged {
            items,
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// One history entry.
    pub async fn history_entry(&self, actor: &Actor, id: &str) -> Result<HistoryEntry> {
        let e: HistoryEntry = self
            .load(id)
            .await?
            .ok_or(GenealogyError::NotFound("history entry"))?;
        if !Self::member_of_any(&self.entry_trees(&e).await?, actor) {
            return Err(GenealogyError::NotFound("history entry"));
        }
        Ok(e)
    }

    /// Undoes a history entry: every document it changed goes back to how it was, provided
    /// nothing changed it since. The revert is itself recorded (and can be reverted).
    pub async fn revert(&self, actor: &Actor, id: &str) -> Result<HistoryEntry> {
        let entry = self.history_entry(actor, id).await?;
        let trees = self.entry_trees(&entry).await?;
        if !trees.iter().any(|t| tree_access(t, actor).can_edit()) {
            return Err(GenealogyError::Forbidden(
                "reverting needs the editor role".into(),
            ));
        }
        if entry.reverted_by.is_some() {
            return Err(GenealogyError::Conflict(
                "this change was already reverted".into(),
            ));
        }
        let mut set = ChangeSet::new();
        for c in entry.changes.iter().rev() {
            let expect = match &c.after {
                Some(v) => Expect::Body(v.clone()),
                None => Expect::Absent,
            };
            let write = match &c.before {
                Some(v) => Write::put(c.collection, doc_from_value(c.collection, v.clone())?),
                None => Write::delete(c.collection, &c.id),
            };
            set.writes.push(write.expecting(expect));
            set.changes.push(Change {
                collection: c.collection,
                id: c.id.clone(),
                before: c.after.clone(),
                after: c.before.clone(),
            });
        }
        let revert_id = new_id();
        let mut marked = entry.clone();
        marked.reverted_by = Some(revert_id.clone());
        set.untracked(
            Write::put(Collection::History, super::doc_of(&marked))
                .expecting(Expect::Body(value_of(&entry))),
        );
        let result = self
            .commit_as(
                &mut set,
                revert_id,
                "reverted",
                actor,
                entry.person_ids.clone(),
                entry.tree_ids.clone(),
                Some(entry.id.clone()),
            )
            .await;
        match result {
            Ok(Some(e)) => Ok(e),
            Ok(None) => Err(GenealogyError::Conflict("nothing to revert".into())),
            Err(GenealogyError::Conflict(_)) => Err(GenealogyError::Conflict(
                "the data changed after this entry; revert the later changes first".into(),
            )),
            Err(e) => Err(e),
        }
    }

    // ---- merge suggestions

    /// Suggests that two persons are the same (editors); collaborators are notified.
    pub async fn create_merge_suggestion(
        &self,
        actor: &Actor,
        input: NewMergeSuggestion,
    ) -> Result<MergeSuggestion> {
        let tree = self.editable_tree(actor, &input.tree_id).await?;
        if input.person_a == input.person_b {
            return Err(invalid("person_b", "must differ from person_a"));
        }
        if input.score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            return Err(invalid("score", "must be between 0 and 1"));
        }
        let found: Vec<Person> = self
            .load_many(&[input.person_a.clone(), input.person_b.clone()])
            .await?;
        for (field, id) in [("person_a", &input.person_a), ("person_b", &input.person_b)] {
            if !found
                .iter()
                .any(|p| &p.id == id && p.tree_ids.contains(&tree.id))
            {
                return Err(invalid(field, "no such person in this tree"));
            }
        }
        let now = self.now();
        let s = MergeSuggestion {
            id: new_id(),
            tree_id: tree.id.clone(),
            person_a: input.person_a,
            person_b: input.person_b,
            score: input.score.unwrap_or(1.0),
            reasons: input.reasons,
            status: MergeStatus::Pending,
            merge_history_id: None,
            decided_by: None,
            created_at: now,
            updated_at: now,
        };
        let mut set = ChangeSet::new();
        set.untracked(Write::put(Collection::MergeSuggestions, super::doc_of(&s)));
        self.notify_members(
            &mut set,
            &tree,
            actor,
            "merge_suggested",
            format!("A possible duplicate was found in \"{}\".", tree.name),
            Some(&s.person_a),
        );
        self.commit(set, "merge_suggested", actor, vec![], vec![])
            .await?;
        Ok(s)
    }

    async fn suggestion(&self, actor: &Actor, id: &str) -> Result<(MergeSuggestion, bool)> {
        let s: MergeSuggestion = self
            .load(id)
            .await?
            .ok_or(GenealogyError::NotFound("merge suggestion"))?;
        let (_, access) = self
            .tree_for(actor, &s.tree_id)
            .await
            .map_err(|_| GenealogyError::NotFound("merge suggestion"))?;
        if !access.is_member() {
            return Err(GenealogyError::NotFound("merge suggestion"));
        }
        Ok((s, access.can_edit()))
    }

    /// One suggestion (members of its tree).
    pub async fn get_merge_suggestion(&self, actor: &Actor, id: &str) -> Result<MergeSuggestion> {
        Ok(self.suggestion(actor, id).await?.0)
    }

    /// A tree's suggestions, optionally by status (members).
    pub async fn list_merge_suggestions(
        &self,
        actor: &Actor,
        tree_id: &str,
        status: Option<MergeStatus>,
        page: PageRequest,
    ) -> Result<Paged<MergeSuggestion>> {
        let (tree, access) = self.tree_for(actor, tree_id).await?;
        if !access.is_member() {
            return Err(GenealogyError::NotFound("tree"));
        }
        let q = match status {
            Some(st) => {
                let st = value_of(&st);
                Query::by_key(
                    Collection::MergeSuggestions,
                    "tree_status",
                    &format!("{}:{}", tree.id, st.as_str().unwrap_or_default()),
                )
            }
            None => Query::by_key(Collection::MergeSuggestions, "tree", &tree.id),
        }
        .page(page.offset, page.limit);
        let (items, total) = self.find::<MergeSuggestion>(&q).await?;
        Ok(Paged {
            items,
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// Marks a suggestion as not the same person (editors).
    pub async fn reject_merge(&self, actor: &Actor, id: &str) -> Result<MergeSuggestion> {
        let (before, can_edit) = self.suggestion(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        if before.status != MergeStatus::Pending {
            return Err(GenealogyError::Conflict(
                "the suggestion was already decided".into(),
            ));
        }
        let mut s = before.clone();
        s.status = MergeStatus::Rejected;
        s.decided_by = Some(actor.user_id.clone());
        s.updated_at = self.now();
        self.store
            .commit(vec![
                Write::put(Collection::MergeSuggestions, super::doc_of(&s))
                    .expecting(Expect::Body(value_of(&before))),
            ])
            .await?;
        Ok(s)
    }

    /// Merges the two persons (editors): names, events, relationships, citations, trees and
    /// history move to the survivor and the other person is deleted, all in one history entry
    /// that [`Genealogy::undo_merge`] (or revert) undoes.
    pub async fn accept_merge(
        &self,
        actor: &Actor,
        id: &str,
        survivor: Option<String>,
    ) -> Result<MergeOutcome> {
        let (before, can_edit) = self.suggestion(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        if before.status != MergeStatus::Pending {
            return Err(GenealogyError::Conflict(
                "the suggestion was already decided".into(),
            ));
        }
        let (keep, gone) = match survivor.as_deref() {
            None => (before.person_a.clone(), before.person_b.clone()),
            Some(s) if s == before.person_a => (before.person_a.clone(), before.person_b.clone()),
            Some(s) if s == before.person_b => (before.person_b.clone(), before.person_a.clone()),
            Some(_) => return Err(invalid("survivor", "must be one of the two persons")),
        };
        let s_seen = self.editable_person(actor, &keep).await?;
        let l_seen = self.editable_person(actor, &gone).await?;
        let (s0, l) = (s_seen.person, l_seen.person);
        let now = self.now();
        let mut set = ChangeSet::new();

        let mut s = s0.clone();
        for n in &l.names {
            if !s.names.contains(n) {
                s.names.push(n.clone());
            }
        }
        for (into, from) in [
            (&mut s.tags, &l.tags),
            (&mut s.notes, &l.notes),
            (&mut s.citation_ids, &l.citation_ids),
            (&mut s.tree_ids, &l.tree_ids),
        ] {
            for x in from {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        for x in &l.external_ids {
            if !s.external_ids.contains(x) {
                s.external_ids.push(x.clone());
            }
        }
        for (k, v) in &l.attributes {
            s.attributes.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if s.sex == crate::model::Sex::Unknown {
            s.sex = l.sex;
        }
        s.living = s.living.or(l.living);
        s.updated_at = now;
        set.put(Some(&s0), &s);

        // Relationships: re-point, dropping self-links and duplicates of the survivor's own.
        let (mine, _) = self
            .find::<Relationship>(&Query::by_key(Collection::Relationships, "person", &keep))
            .await?;
        let (theirs, _) = self
            .find::<Relationship>(&Query::by_key(Collection::Relationships, "person", &gone))
            .await?;
        let mut kept: Vec<Relationship> = mine
            .iter()
            .filter(|r| !theirs.contains(r))
            .cloned()
            .collect();
        for r in &theirs {
            let moved = r.repointed(&gone, &keep);
            let [a, b] = moved.persons();
            if a == b || kept.iter().any(|k| k.same_link(&moved)) {
                set.delete(r);
            } else {
                let mut moved = moved;
                moved.updated_at = now;
                set.put(Some(r), &moved);
                kept.push(moved);
            }
        }
        // Events: the survivor takes the other's place.
        let (events, _) = self
            .find::<Event>(&Query::by_key(Collection::Events, "person", &gone))
            .await?;
        for e in &events {
            let mut moved = e.clone();
            for p in &mut moved.participants {
                if p.person_id == gone {
                    p.person_id = keep.clone();
                }
            }
            let mut seen = Vec::new();
            moved.participants.retain(|p| {
                let key = (p.person_id.clone(), p.role.clone());
                let dup = seen.contains(&key);
                seen.push(key);
                !dup
            });
            moved.updated_at = now;
            set.put(Some(e), &moved);
        }
        // History: the other person's past becomes the survivor's.
        let (history, _) = self
            .find::<HistoryEntry>(&Query::by_key(Collection::History, "person", &gone))
            .await?;
        for h in &history {
            let mut moved = h.clone();
            for p in &mut moved.person_ids {
                if *p == gone {
                    p.clone_from(&keep);
                }
            }
            moved.person_ids.sort();
            moved.person_ids.dedup();
            set.put(Some(h), &moved);
        }
        set.delete(&l);
        let history_id = new_id();
        let mut decided = before.clone();
        decided.status = MergeStatus::Accepted;
        decided.merge_history_id = Some(history_id.clone());
        decided.decided_by = Some(actor.user_id.clone());
        decided.updated_at = now;
        set.put(Some(&before), &decided);
        let trees = s.tree_ids.clone();
        self.commit_as(
            &mut set,
            history_id.clone(),
            "merged",
            actor,
            vec![keep.clone(), gone.clone()],
            trees,
            None,
        )
        .await?;
        Ok(MergeOutcome {
            suggestion: decided,
            survivor_id: keep,
            merged_id: gone,
            history_id,
        })
    }

    /// Undoes an accepted merge: both persons as they were, the suggestion pending again.
    pub async fn undo_merge(&self, actor: &Actor, id: &str) -> Result<MergeSuggestion> {
        let (s, can_edit) = self.suggestion(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let Some(history_id) = s.merge_history_id.clone() else {
            return Err(GenealogyError::Conflict(
                "this suggestion was not merged".into(),
            ));
        };
        self.revert(actor, &history_id).await?;
        Ok(self.suggestion(actor, id).await?.0)
    }

    // ---- notifications

    /// The caller's notifications, newest first.
    pub async fn notifications(
        &self,
        actor: &Actor,
        filter: NotificationFilter,
        page: PageRequest,
    ) -> Result<Paged<Notification>> {
        let key = if filter.unread { "unread" } else { "user" };
        let mut q = Query::by_keys(Collection::Notifications, key, &recipients(actor))
            .page(page.offset, page.limit);
        q.order = Order::SortDesc;
        let (items, total) = self.find::<Notification>(&q).await?;
        Ok(Paged {
            items,
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// Marks one notification read (only the recipient's own).
    pub async fn mark_read(&self, actor: &Actor, id: &str) -> Result<Notification> {
        let n: Notification = self
            .load(id)
            .await?
            .filter(|n: &Notification| recipients(actor).contains(&n.user_id))
            .ok_or(GenealogyError::NotFound("notification"))?;
        let mut read = n.clone();
        read.read = true;
        self.store
            .commit(vec![Write::put(
                Collection::Notifications,
                super::doc_of(&read),
            )])
            .await?;
        Ok(read)
    }

    /// Marks all the caller's notifications read; returns how many were unread.
    pub async fn mark_all_read(&self, actor: &Actor) -> Result<u64> {
        let (unread, _) = self
            .find::<Notification>(&Query::by_keys(
                Collection::Notifications,
                "unread",
                &recipients(actor),
            ))
            .await?;
        let n = unread.len() as u64;
        let writes = unread
            .into_iter()
            .map(|mut x| {
                x.read = true;
                Write::put(Collection::Notifications, super::doc_of(&x))
            })
            .collect();
        self.store.commit(writes).await?;
        Ok(n)
    }
}
