//! GEDCOM versions the library reads and writes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A GEDCOM version family; the rules for `@` escaping and line continuation follow it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// 5.5, 5.5.1 and 5.5.5: `@@` escaped everywhere, CONC and CONT, 255-character lines.
    #[default]
    V551,
    /// 7.0: only a leading `@` is doubled, no CONC, UTF-8 only.
    V70,
}

impl Version {
    /// Classifies a `HEAD.GEDC.VERS` payload such as `5.5.1` or `7.0.14`.
    pub fn from_vers(vers: &str) -> Self {
        if vers.trim_start().starts_with('7') {
            Version::V70
        } else {
            Version::V551
        }
    }

    /// The `VERS` payload this library writes for the version.
    pub fn vers(self) -> &'static str {
        match self {
            Version::V551 => "5.5.1",
            Version::V70 => "7.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.vers())
    }
}
