use super::*;
use crate::model::{Collaborator, Sex, TreeSettings};

fn tree(id: &str, privacy: TreePrivacy, mask_living: bool) -> FamilyTree {
    let member = |user: &str, role| Collaborator {
        user_id: Some(user.into()),
        email: None,
        role,
        invited_by: "owner".into(),
        invited_at: 0,
    };
    FamilyTree {
        id: id.into(),
        name: id.into(),
        description: None,
        owner_id: "owner".into(),
        privacy,
        collaborators: vec![
            member("admin", Role::Admin),
            member("editor", Role::Editor),
            member("viewer", Role::Viewer),
            Collaborator {
                user_id: None,
                email: Some("invited@example.org".into()),
                role: Role::Viewer,
                invited_by: "owner".into(),
                invited_at: 0,
            },
        ],
        settings: TreeSettings {
            mask_living,
            ..TreeSettings::default()
        },
        created_at: 0,
        updated_at: 0,
    }
}

fn person(trees: &[&str], privacy: PersonPrivacy) -> Person {
    Person {
        id: "p".into(),
        tree_ids: trees.iter().map(|t| (*t).to_owned()).collect(),
        names: vec![],
        sex: Sex::Unknown,
        living: None,
        privacy,
        notes: vec![],
        tags: vec![],
        external_ids: vec![],
        citation_ids: vec![],
        attributes: Default::default(),
        created_at: 0,
        updated_at: 0,
    }
}

const USERS: [&str; 5] = ["owner", "admin", "editor", "viewer", "other"];

#[test]
fn tree_access_matrix() {
    use TreeAccess as A;
    // (tree privacy, expected access per user in USERS order)
    let cases = [
        (
            TreePrivacy::Private,
            [
                A::Owner,
                A::Member(Role::Admin),
                A::Member(Role::Editor),
                A::Member(Role::Viewer),
                A::None,
            ],
        ),
        (
            TreePrivacy::Public,
            [
                A::Owner,
                A::Member(Role::Admin),
                A::Member(Role::Editor),
                A::Member(Role::Viewer),
                A::Public,
            ],
        ),
    ];
    for (privacy, expected) in cases {
        let t = tree("t", privacy, true);
        for (user, want) in USERS.iter().zip(expected) {
            let got = tree_access(&t, &Actor::user(user));
            assert_eq!(got, want, "{user} on {privacy:?}");
        }
    }
    // (can_read, can_edit, can_manage, is_owner) per user on a public tree.
    let t = tree("t", TreePrivacy::Public, true);
    let caps = [
        (true, true, true, true),
        (true, true, true, false),
        (true, true, false, false),
        (true, false, false, false),
        (true, false, false, false),
    ];
    for (user, want) in USERS.iter().zip(caps) {
        let a = tree_access(&t, &Actor::user(user));
        assert_eq!(
            (a.can_read(), a.can_edit(), a.can_manage(), a.is_owner()),
            want,
            "{user}"
        );
    }
    let private = tree("t", TreePrivacy::Private, true);
    assert!(!tree_access(&private, &Actor::user("other")).can_read());
}

#[test]
fn invitations_by_email_match_case_insensitively() {
    let t = tree("t", TreePrivacy::Private, true);
    let actor = Actor {
        user_id: "new-user".into(),
        email: Some("Invited@Example.org".into()),
    };
    assert_eq!(tree_access(&t, &actor), TreeAccess::Member(Role::Viewer));
    assert_eq!(
        tree_access(&t, &Actor::user("invited@example.org")),
        TreeAccess::None,
        "an email is not a user id"
    );
}

#[test]
fn person_visibility_matrix() {
    use PersonPrivacy as P;
    use Visibility as V;
    // (tree privacy, mask living, person privacy, living, expected for [member, other])
    let cases = [
        (
            TreePrivacy::Private,
            true,
            P::TreeDefault,
            true,
            [V::Full, V::Hidden],
        ),
        (
            TreePrivacy::Private,
            true,
            P::Public,
            false,
            [V::Full, V::Hidden],
        ),
        (
            TreePrivacy::Public,
            true,
            P::TreeDefault,
            true,
            [V::Full, V::Masked],
        ),
        (
            TreePrivacy::Public,
            true,
            P::TreeDefault,
            false,
            [V::Full, V::Full],
        ),
        (
            TreePrivacy::Public,
            false,
            P::TreeDefault,
            true,
            [V::Full, V::Full],
        ),
        (
            TreePrivacy::Public,
            true,
            P::Public,
            true,
            [V::Full, V::Full],
        ),
        (
            TreePrivacy::Public,
            true,
            P::Private,
            false,
            [V::Full, V::Hidden],
        ),
        (
            TreePrivacy::Public,
            false,
            P::Private,
            true,
            [V::Full, V::Hidden],
        ),
    ];
    for (tp, mask, pp, living, [member, other]) in cases {
        let t = tree("t", tp, mask);
        let p = person(&["t"], pp);
        for user in ["owner", "admin", "editor", "viewer"] {
            assert_eq!(
                person_visibility(&p, living, std::slice::from_ref(&t), &Actor::user(user)),
                member,
                "{user} {tp:?} mask={mask} {pp:?} living={living}"
            );
        }
        assert_eq!(
            person_visibility(&p, living, std::slice::from_ref(&t), &Actor::user("other")),
            other,
            "other {tp:?} mask={mask} {pp:?} living={living}"
        );
    }
}

#[test]
fn the_most_generous_tree_wins() {
    let private = tree("a", TreePrivacy::Private, true);
    let mut public = tree("b", TreePrivacy::Public, true);
    public.owner_id = "someone".into();
    public.collaborators.clear();
    let p = person(&["a", "b"], PersonPrivacy::TreeDefault);
    let trees = [private.clone(), public.clone()];
    assert_eq!(
        person_visibility(&p, true, &trees, &Actor::user("other")),
        Visibility::Masked
    );
    assert_eq!(
        person_visibility(&p, true, &trees, &Actor::user("viewer")),
        Visibility::Full,
        "a viewer of the private tree sees everything"
    );
    // A tree the person is not in grants nothing.
    let only_a = person(&["a"], PersonPrivacy::TreeDefault);
    assert_eq!(
        person_visibility(&only_a, false, &trees, &Actor::user("other")),
        Visibility::Hidden
    );
    assert!(can_edit_person(&p, &trees, &Actor::user("editor")));
    assert!(!can_edit_person(&p, &trees, &Actor::user("viewer")));
    assert!(!can_edit_person(&p, &trees, &Actor::user("other")));
}

#[test]
fn platform_admins_get_nothing_extra() {
    // The policy takes no platform roles at all: an ADMIN user who is not a collaborator is
    // an outsider, which the type makes impossible to get wrong.
    let t = tree("t", TreePrivacy::Private, true);
    assert_eq!(
        tree_access(&t, &Actor::user("platform-admin")),
        TreeAccess::None
    );
}
