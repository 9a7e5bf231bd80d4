//! Problems found while reading or validating, reported instead of failing.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing was changed.
    Info,
    /// The input breaks the standard but was understood without losing data.
    Warning,
    /// The input could not be fully understood; the message says what was done with it.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem, with the physical line (1-based) it was found on when known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// 1-based physical line number in the input, if the problem belongs to a line.
    pub line: Option<u64>,
    /// How serious it is.
    pub severity: Severity,
    /// Stable machine-readable code such as `level-jump`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic attached to a line.
    pub fn at(
        line: u64,
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line: Some(line),
            severity,
            code,
            message: message.into(),
        }
    }

    /// A diagnostic about the file as a whole.
    pub fn file(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            line: None,
            severity,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "line {line}: {} [{}]: {}",
                self.severity, self.code, self.message
            ),
            None => write!(f, "{} [{}]: {}", self.severity, self.code, self.message),
        }
    }
}
