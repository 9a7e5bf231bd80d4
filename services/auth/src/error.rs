//! The domain's errors, mapped once to problem responses at the HTTP edge (`http::problem`).

use dzinza_kit::problem::FieldError;

use crate::keys::KeyError;
use crate::mfa::MfaError;
use crate::password::PasswordError;
use crate::sealing::SealError;
use crate::store::StoreError;

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Some input fields are invalid.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// Wrong identifier or password (deliberately not saying which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account is locked for `retry_after` more seconds.
    #[error("account locked")]
    Locked {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// Too many failed logins from this address.
    #[error("too many attempts")]
    Throttled {
        /// Seconds until attempts are accepted again.
        retry_after: i64,
    },
    /// A refresh, reset, verification or MFA challenge token is unknown, used or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A TOTP or backup code is wrong or was already used.
    #[error("invalid code")]
    InvalidCode,
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// No such user.
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The change would leave no active administrator.
    #[error("last administrator")]
    LastAdmin,
    /// The token's account no longer exists or is disabled.
    #[error("account unavailable")]
    AccountUnavailable,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Signing failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// TOTP machinery failed.
    #[error(transparent)]
    Mfa(#[from] MfaError),
    /// A stored TOTP secret cannot be decrypted with the configured key (or sealing failed).
    #[error(transparent)]
    Sealing(#[from] SealError),
}

impl AuthError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AuthError::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }
}
