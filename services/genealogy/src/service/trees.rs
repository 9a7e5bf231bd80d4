//! Trees and collaborators.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codec::value_of;
use super::{ChangeSet, Genealogy, GenealogyError, PageRequest, Paged, Result, doc_of, invalid};
use crate::model::{
    Change, Collaborator, Collection, FamilyTree, Person, Role, TreePrivacy, TreeSettings, new_id,
};
use crate::policy::{Actor, TreeAccess, tree_access};
use crate::store::{Expect, Query, Select, Write};

/// Creating a tree.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTree {
    /// Name (1 to 200 characters).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Privacy (default private).
    #[serde(default)]
    pub privacy: Option<TreePrivacy>,
    /// Settings.
    #[serde(default)]
    pub settings: Option<TreeSettings>,
}

/// Changing a tree: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TreePatch {
    /// Name.
    pub name: Option<String>,
    /// Description (`null` keeps it; use an empty string to clear).
    pub description: Option<String>,
    /// Privacy.
    pub privacy: Option<TreePrivacy>,
    /// Settings.
    pub settings: Option<TreeSettings>,
}

/// Inviting a collaborator, by user id or by email.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollaboratorInput {
    /// The user's id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Or their email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Role.
    pub role: Role,
}

/// Which trees to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TreeScope {
    /// Trees the caller owns or collaborates on.
    #[default]
    Mine,
    /// Public trees.
    Public,
}

/// A tree as the caller sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TreeView {
    /// The tree (collaborators only listed for members).
    #[serde(flatten)]
    pub tree: FamilyTree,
    /// The caller's access: `owner`, `admin`, `editor`, `viewer` or `public`.
    pub access: String,
}

fn access_name(a: TreeAccess) -> &'static str {
    match a {
        TreeAccess::Owner => "owner",
        TreeAccess::Member(Role::Admin) => "admin",
        TreeAccess::Member(Role::Editor) => "editor",
        TreeAccess::Member(Role::Viewer) => "viewer",
        TreeAccess::Public => "public",
        TreeAccess::None => "none",
    }
}

pub(crate) fn view(mut tree: FamilyTree, access: TreeAccess) -> TreeView {
    if !access.is_member() {
        tree.collaborators.clear();
    }
    TreeView {
        tree,
        access: access_name(access).to_owned(),
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(invalid("name", "must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

fn check_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    match e.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && e.len() <= 254 => {
            Ok(e)
        }
        _ => Err(invalid("email", "is not an email address")),
    }
}

impl Genealogy {
    /// Creates a tree owned by the caller.
    pub async fn create_tree(&self, actor: &Actor, input: NewTree) -> Result<TreeView> {
        let now = self.now();
        let tree = FamilyTree {
            id: new_id(),
            name: check_name(&input.name)?,
            description: input.description.filter(|d| !d.trim().is_empty()),
            owner_id: actor.user_id.clone(),
            privacy: input.privacy.unwrap_or_default(),
            collaborators: Vec::new(),
            settings: input.settings.unwrap_or_default(),
            created_at: now,
            updated_at: now,
        };
        self.store
            .commit(vec![
                Write::put(Collection::Trees, doc_of(&tree)).expecting(Expect::Absent),
            ])
            .await?;
        Ok(view(tree, TreeAccess::Owner))
    }

    /// The trees the caller belongs to, or the public ones.
    pub async fn list_trees(
        &self,
        actor: &Actor,
        scope: TreeScope,
        page: PageRequest,
    ) -> Result<Paged<TreeView>> {
        let select = match scope {
            TreeScope::Mine => {
                let mut pairs = vec![("member".to_owned(), actor.user_id.clone())];
                if let Some(e) = &actor.email {
                    pairs.push(("member_email".to_owned(), e.to_lowercase()));
                }
                Select::Any(pairs)
            }
            TreeScope::Public => Select::Any(vec![("privacy".into(), "public".into())]),
        };
        let mut q = Query::by_key(Collection::Trees, "", "").page(page.offset, page.limit);
        q.select = select;
        let (trees, total) = self.find::<FamilyTree>(&q).await?;
        Ok(Paged {
            items: trees
                .into_iter()
                .map(|t| {
                    let a = tree_access(&t, actor);
                    view(t, a)
                })
                .collect(),
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// One tree.
    pub async fn get_tree(&self, actor: &Actor, id: &str) -> Result<TreeView> {
        let (tree, access) = self.tree_for(actor, id).await?;
        Ok(view(tree, access))
    }

    async fn managed_tree(&self, actor: &Actor, id: &str) -> Result<FamilyTree> {
        let (tree, access) = self.tree_for(actor, id).await?;
        if !access.can_manage() {
            return Err(GenealogyError::Forbidden(
                "managing this tree needs the admin role".into(),
            ));
        }
        Ok(tree)
    }

    async fn save_tree(&self, before: &FamilyTree, after: &FamilyTree) -> Result<()> {
        self.store
            .commit(vec![
                Write::put(Collection::Trees, doc_of(after))
                    .expecting(Expect::Body(super::codec::value_of(before))),
            ])
            .await?;
        Ok(())
    }

    /// Changes a tree's name, description, privacy or settings (owner and admins).
    pub async fn update_tree(&self, actor: &Actor, id: &str, patch: TreePatch) -> Result<TreeView> {
        let before = self.managed_tree(actor, id).await?;
        let mut tree = before.clone();
        if let Some(n) = patch.name {
            tree.name = check_name(&n)?;
        }
        if let Some(d) = patch.description {
            tree.description = Some(d).filter(|d| !d.trim().is_empty());
        }
        if let Some(p) = patch.privacy {
            tree.privacy = p;
        }
        if let Some(s) = patch.settings {
            tree.settings = s;
        }
        tree.updated_at = self.now();
        self.save_tree(&before, &tree).await?;
        let access = tree_access(&tree, actor);
        Ok(view(tree, access))
    }

    /// Deletes a tree (owner only): its records go, and people in no other tree with them.
    pub async fn delete_tree(&self, actor: &Actor, id: &str) -> Result<()> {
        let (tree, access) = self.tree_for(actor, id).await?;
        if !access.is_owner() {
            return Err(GenealogyError::Forbidden(
                "only the owner can delete a tree".into(),
            ));
        }
        let mut writes = vec![Write::delete(Collection::Trees, &tree.id)];
        // What the deletion does to persons, events and parent links, for their vitals.
        let mut changes = Vec::new();
        let (persons, _) = self
            .find::<Person>(&Query::by_key(Collection::Persons, "tree", id))
            .await?;
        for before in persons {
            let mut p = before.clone();
            p.tree_ids.retain(|t| t != id);
            let after = (!p.tree_ids.is_empty()).then_some(p);
            match &after {
                None => writes.push(Write::delete(Collection::Persons, &before.id)),
                Some(p) => writes.push(Write::put(Collection::Persons, doc_of(p))),
            }
            changes.push(Change {
                collection: Collection::Persons,
                id: before.id.clone(),
                before: Some(value_of(&before)),
                after: after.as_ref().map(value_of),
            });
        }
        for coll in [
            Collection::Relationships,
            Collection::Events,
            Collection::Sources,
            Collection::Citations,
            Collection::Repositories,
            Collection::Notes,
            Collection::MergeSuggestions,
        ] {
            let page = self.store.find(&Query::by_key(coll, "tree", id)).await?;
            writes.extend(page.items.iter().map(|d| Write::delete(coll, &d.id)));
            if matches!(coll, Collection::Relationships | Collection::Events) {
                changes.extend(page.items.into_iter().map(|d| Change {
                    collection: coll,
                    id: d.id,
                    before: Some(d.body),
                    after: None,
                }));
            }
        }
        // People kept in another tree get vitals from what remains (their other events and
        // links, their card without this tree) in the same commit; the others lose theirs.
        writes.extend(self.vitals_writes(&changes).await?);
        self.store.commit(writes).await?;
        Ok(())
    }

    /// Invites a collaborator or changes their role (owner and admins).
    pub async fn add_collaborator(
        &self,
        actor: &Actor,
        tree_id: &str,
        input: CollaboratorInput,
    ) -> Result<TreeView> {
        let before = self.managed_tree(actor, tree_id).await?;
        let (user_id, email) = match (input.user_id, input.email) {
            (Some(u), None) if !u.trim().is_empty() => (Some(u.trim().to_owned()), None),
            (None, Some(e)) => (None, Some(check_email(&e)?)),
            _ => return Err(invalid("user_id", "give exactly one of user_id and email")),
        };
        if user_id.as_deref() == Some(before.owner_id.as_str()) {
            return Err(invalid("user_id", "the owner is already in the tree"));
        }
        let mut tree = before.clone();
        let key = user_id.clone().or(email.clone()).unwrap_or_default();
        match tree
            .collaborators
            .iter_mut()
            .find(|c| c.user_id.as_deref() == Some(&key) || c.email.as_deref() == Some(&key))
        {
            Some(c) => c.role = input.role,
            None => tree.collaborators.push(Collaborator {
                user_id: user_id.clone(),
                email,
                role: input.role,
                invited_by: actor.user_id.clone(),
                invited_at: self.now(),
            }),
        }
        tree.updated_at = self.now();
        let mut set = ChangeSet::new();
        if let Some(u) = &user_id {
            set.notify(crate::model::Notification {
                id: new_id(),
                user_id: u.clone(),
                kind: "tree_shared".into(),
                message: format!("You were invited to \"{}\" as {:?}.", tree.name, input.role)
                    .to_lowercase(),
                tree_id: Some(tree.id.clone()),
                person_id: None,
                read: false,
                created_at: self.now(),
            });
        }
        set.untracked(
            Write::put(Collection::Trees, doc_of(&tree))
                .expecting(Expect::Body(super::codec::value_of(&before))),
        );
        self.commit(set, "tree_shared", actor, vec![], vec![])
            .await?;
        let access = tree_access(&tree, actor);
        Ok(view(tree, access))
    }

    /// Changes a collaborator's role; `member` is their user id or invited email.
    pub async fn set_collaborator_role(
        &self,
        actor: &Actor,
        tree_id: &str,
        member: &str,
        role: Role,
    ) -> Result<TreeView> {
        let before = self.managed_tree(actor, tree_id).await?;
        let mut tree = before.clone();
        let c = tree
            .collaborators
            .iter_mut()
            .find(|c| c.matches(member, Some(member)))
            .ok_or(GenealogyError::NotFound("collaborator"))?;
        c.role = role;
        tree.updated_at = self.now();
        self.save_tree(&before, &tree).await?;
        let access = tree_access(&tree, actor);
        Ok(view(tree, access))
    }

    /// Removes a collaborator.
    pub async fn remove_collaborator(
        &self,
        actor: &Actor,
        tree_id: &str,
        member: &str,
    ) -> Result<()> {
        let before = self.managed_tree(actor, tree_id).await?;
        let mut tree = before.clone();
        let n = tree.collaborators.len();
        tree.collaborators
            .retain(|c| !c.matches(member, Some(member)));
        if tree.collaborators.len() == n {
            return Err(GenealogyError::NotFound("collaborator"));
        }
        tree.updated_at = self.now();
        self.save_tree(&before, &tree).await
    }
}
