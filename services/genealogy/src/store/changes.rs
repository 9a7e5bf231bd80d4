//! What both adapters share in answering [`DocumentStore::changes`]: which collections keep a
//! change log, how much of it is kept, and how a request is answered from its bounds.
//!
//! Each adapter appends `(seq, collection, id)` for every write of a tracked collection in the
//! writing transaction, numbering changes in commit order, and trims the log to the latest
//! [`KEPT_CHANGES`].
//!
//! [`DocumentStore::changes`]: super::DocumentStore::changes

use std::ops::ControlFlow;

use super::Changes;
use crate::model::Collection;

/// The collections whose changes are logged: the vitals that pedigrees keep decoded.
pub const TRACKED: &[Collection] = &[Collection::Vitals];

/// Changes the log keeps (the newest); a mark older than them gets [`Changes::Any`]. On SQLite
/// the triggers of migration 0005 keep this many (the number is written there).
pub const KEPT_CHANGES: u64 = 10_000;

/// More changes than this in one reply are answered with [`Changes::Any`]: dropping every
/// cached document is then cheaper than dropping them one by one.
pub const MOST_CHANGES: u64 = 1000;

/// How to answer a request for the changes after `since`, given the oldest and newest change
/// kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeRead {
    /// Answer [`Changes::Any`] with this mark.
    Any(u64),
    /// Read the changes in `(after, upto]`: all of them are still kept.
    Ids {
        /// The caller's mark.
        after: u64,
        /// The newest change.
        upto: u64,
    },
}

impl ChangeRead {
    /// The changes to read, `(after, upto]`, or the reply when there is nothing to read:
    /// anything may have changed, or nothing has (the mark is the newest change).
    pub(crate) fn to_read(self) -> ControlFlow<Changes, (u64, u64)> {
        match self {
            ChangeRead::Any(mark) => ControlFlow::Break(Changes::Any { mark }),
            ChangeRead::Ids { after, upto } if after == upto => ControlFlow::Break(Changes::Some {
                mark: upto,
                ids: Vec::new(),
            }),
            ChangeRead::Ids { after, upto } => ControlFlow::Continue((after, upto)),
        }
    }
}

/// How to answer a request for the changes after `since` (see [`ChangeRead`]); `(0, 0)` as
/// bounds when nothing is kept.
pub(crate) fn change_read(since: Option<u64>, oldest: u64, newest: u64) -> ChangeRead {
    match since {
        // Nothing newer, or the first change after the mark is still kept. A mark newer than
        // the newest change comes from another database (a file restored from a backup).
        Some(after) if after == newest || (after < newest && oldest <= after + 1) => {
            ChangeRead::Ids {
                after,
                upto: newest,
            }
        }
        _ => ChangeRead::Any(newest),
    }
}

/// The reply for the ids of the changes in `(after, upto]`, read up to [`MOST_CHANGES`] + 1.
pub(crate) fn changes_of(ids: Vec<String>, upto: u64) -> Changes {
    match ids.len() as u64 > MOST_CHANGES {
        true => Changes::Any { mark: upto },
        false => Changes::Some { mark: upto, ids },
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::{ChangeRead, Changes, change_read};

    #[test]
    fn only_changes_after_the_mark_are_read() {
        assert_eq!(
            ChangeRead::Any(9).to_read(),
            ControlFlow::Break(Changes::Any { mark: 9 })
        );
        assert_eq!(
            ChangeRead::Ids { after: 7, upto: 7 }.to_read(),
            ControlFlow::Break(Changes::Some {
                mark: 7,
                ids: Vec::new()
            })
        );
        assert_eq!(
            ChangeRead::Ids { after: 2, upto: 9 }.to_read(),
            ControlFlow::Continue((2, 9))
        );
    }

    #[test]
    fn changes_are_read_while_every_one_after_the_mark_is_kept() {
        // Nothing recorded yet.
        assert_eq!(
            change_read(Some(0), 0, 0),
            ChangeRead::Ids { after: 0, upto: 0 }
        );
        // Up to date.
        assert_eq!(
            change_read(Some(7), 3, 7),
            ChangeRead::Ids { after: 7, upto: 7 }
        );
        // Behind, the next change still kept (the oldest kept is the first after the mark).
        assert_eq!(
            change_read(Some(2), 3, 9),
            ChangeRead::Ids { after: 2, upto: 9 }
        );
        assert_eq!(
            change_read(Some(5), 3, 9),
            ChangeRead::Ids { after: 5, upto: 9 }
        );
    }

    #[test]
    fn anything_may_have_changed_without_a_usable_mark() {
        // The first call.
        assert_eq!(change_read(None, 3, 9), ChangeRead::Any(9));
        // Changes after the mark were trimmed away.
        assert_eq!(change_read(Some(1), 3, 9), ChangeRead::Any(9));
        // A mark from another database (newer than anything here).
        assert_eq!(change_read(Some(12), 3, 9), ChangeRead::Any(9));
        assert_eq!(change_read(Some(1), 0, 0), ChangeRead::Any(0));
    }
}
