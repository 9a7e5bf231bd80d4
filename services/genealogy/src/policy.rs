//! Authorization as a pure policy: who may read, change and manage what.
//!
//! Owner and tree admins manage a tree and its collaborators; editors change people, events,
//! relationships and sources; viewers read. Other signed-in users read public trees only, with
//! living people masked unless the tree turns that off, and never see private people. A person
//! in several trees gets the most generous view any of them allows. Platform roles (`ADMIN`)
//! play no part here: they do not bypass privacy.

use crate::model::{FamilyTree, Person, PersonPrivacy, Role, TreePrivacy};

/// The signed-in caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// User id.
    pub user_id: String,
    /// Email, for invitations by address.
    pub email: Option<String>,
}

impl Actor {
    /// An actor with an id and no email.
    pub fn user(id: &str) -> Actor {
        Actor {
            user_id: id.to_owned(),
            email: None,
        }
    }
}

/// What the caller may do with a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TreeAccess {
    /// Nothing: the tree is not visible.
    None,
    /// Reads a public tree as an outsider (masking and privacy apply).
    Public,
    /// Collaborator with a role.
    Member(Role),
    /// The owner.
    Owner,
}

impl TreeAccess {
    /// Reads the tree at all.
    pub fn can_read(self) -> bool {
        self != TreeAccess::None
    }

    /// Reads everything, living and private people included.
    pub fn is_member(self) -> bool {
        matches!(self, TreeAccess::Member(_) | TreeAccess::Owner)
    }

    /// Changes people, events, relationships and sources.
    pub fn can_edit(self) -> bool {
        matches!(
            self,
            TreeAccess::Member(Role::Editor | Role::Admin) | TreeAccess::Owner
        )
    }

    /// Changes the tree itself and its collaborators.
    pub fn can_manage(self) -> bool {
        matches!(self, TreeAccess::Member(Role::Admin) | TreeAccess::Owner)
    }

    /// Deletes the tree or transfers it.
    pub fn is_owner(self) -> bool {
        self == TreeAccess::Owner
    }
}

/// The caller's access to `tree`.
pub fn tree_access(tree: &FamilyTree, actor: &Actor) -> TreeAccess {
    if tree.owner_id == actor.user_id {
        return TreeAccess::Owner;
    }
    if let Some(role) = tree.role_of(&actor.user_id, actor.email.as_deref()) {
        return TreeAccess::Member(role);
    }
    match tree.privacy {
        TreePrivacy::Public => TreeAccess::Public,
        TreePrivacy::Private => TreeAccess::None,
    }
}

/// How much of a person the caller sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    /// Not at all (answers say "not found").
    Hidden,
    /// As "Living", with no dates, places, notes or events.
    Masked,
    /// Everything.
    Full,
}

/// What `tree` lets the caller see of `person` (`living` as decided by [`crate::living`]).
pub fn person_visibility_in(
    person: &Person,
    living: bool,
    tree: &FamilyTree,
    actor: &Actor,
) -> Visibility {
    visibility_in(person.privacy, living, tree, actor)
}

/// What `tree` lets the caller see of a person with `privacy`.
fn visibility_in(
    privacy: PersonPrivacy,
    living: bool,
    tree: &FamilyTree,
    actor: &Actor,
) -> Visibility {
    match tree_access(tree, actor) {
        TreeAccess::None => Visibility::Hidden,
        a if a.is_member() => Visibility::Full,
        _ => match privacy {
            PersonPrivacy::Private => Visibility::Hidden,
            PersonPrivacy::Public => Visibility::Full,
            PersonPrivacy::TreeDefault if living && tree.settings.mask_living => Visibility::Masked,
            PersonPrivacy::TreeDefault => Visibility::Full,
        },
    }
}

/// The most any of the person's `trees` lets the caller see.
pub fn person_visibility(
    person: &Person,
    living: bool,
    trees: &[FamilyTree],
    actor: &Actor,
) -> Visibility {
    visibility(&person.tree_ids, person.privacy, living, trees, actor)
}

/// The most any of `trees` that is one of `tree_ids` (a person's trees) lets the caller see
/// of a person with `privacy`: [`person_visibility`] from the parts of a person it reads.
pub fn visibility(
    tree_ids: &[String],
    privacy: PersonPrivacy,
    living: bool,
    trees: &[FamilyTree],
    actor: &Actor,
) -> Visibility {
    trees
        .iter()
        .filter(|t| tree_ids.contains(&t.id))
        .map(|t| visibility_in(privacy, living, t, actor))
        .max()
        .unwrap_or(Visibility::Hidden)
}

/// Whether the caller may change the person: editor or better in any of its trees.
pub fn can_edit_person(person: &Person, trees: &[FamilyTree], actor: &Actor) -> bool {
    trees
        .iter()
        .filter(|t| person.tree_ids.contains(&t.id))
        .any(|t| tree_access(t, actor).can_edit())
}

#[cfg(test)]
mod tests;
