//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s) and one-time backup codes.

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per TOTP step.
pub const STEP: i64 = 30;
/// Backup codes issued when MFA is turned on.
pub const BACKUP_CODES: usize = 10;

/// TOTP failures.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The stored secret is unusable.
    #[error("bad TOTP secret: {0}")]
    Secret(String),
    /// The QR code could not be drawn.
    #[error("QR code: {0}")]
    Qr(String),
}

/// A new random 160-bit secret, base32-encoded.
pub fn new_secret() -> String {
    let bytes: [u8; 20] = rand::random();
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => String::new(),
    }
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> Result<TOTP, MfaError> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| MfaError::Secret(format!("{e:?}")))?;
    // `:` separates issuer and account in otpauth labels.
    let account = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP as u64,
        bytes,
        Some(issuer.to_owned()),
        account,
    )
    .map_err(|e| MfaError::Secret(e.to_string()))
}

/// The `otpauth://` URI authenticator apps scan.
pub fn otpauth_url(secret_b32: &str, issuer: &str, account: &str) -> Result<String, MfaError> {
    Ok(totp(secret_b32, issuer, account)?.get_url())
}

/// The URI as an SVG QR code.
pub fn qr_svg(url: &str) -> Result<String, MfaError> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|e| MfaError::Qr(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// The time step in which `code` is valid at `now`, allowing one step of clock drift either way.
/// The caller must still claim the step so the code cannot be replayed.
pub fn matching_step(secret_b32: &str, code: &str, now: i64) -> Result<Option<i64>, MfaError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret_b32, "dzinza", "user")?;
    let step_now = now.div_euclid(STEP);
    for step in [step_now - 1, step_now, step_now + 1] {
        let Ok(at) = u64::try_from(step * STEP) else {
            continue;
        };
        if constant_time_eq(totp.generate(at).as_bytes(), code.as_bytes()) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// The current code (for tests and the e2e suite's helpers).
pub fn code_at(secret_b32: &str, at: i64) -> Result<String, MfaError> {
    Ok(totp(secret_b32, "dzinza", "user")?.generate(u64::try_from(at).unwrap_or(0)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ten fresh backup codes, formatted `xxxxx-xxxxx` (50 bits each).
pub fn new_backup_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..BACKUP_CODES)
        .map(|_| {
            let mut code = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    code.push('-');
                }
                let n = rand::random_range(0..ALPHABET.len());
                code.push(char::from(ALPHABET[n]));
            }
            code
        })
        .collect()
}

/// How a backup code is stored: SHA-256 over the user id and the normalised code.
pub fn backup_code_hash(user_id: &str, code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex(&Sha256::digest(
        format!("{user_id}:{normalised}").as_bytes(),
    ))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_with_one_step_of_drift() {
        let secret = new_secret();
        let now = 1_800_000_015;
        let code = code_at(&secret, now).unwrap();
        assert_eq!(
            matching_step(&secret, &code, now).unwrap(),
            Some(now / STEP)
        );
        assert_eq!(
            matching_step(&secret, &code, now + STEP).unwrap(),
            Some(now / STEP)
        );
        assert_eq!(matching_step(&secret, &code, now + 3 * STEP).unwrap(), None);
        assert_eq!(matching_step(&secret, "12345", now).unwrap(), None);
        assert_eq!(matching_step(&secret, "abcdef", now).unwrap(), None);
    }

    #[test]
    fn uri_and_qr() {
        let secret = new_secret();
        let url = otpauth_url(&secret, "Dzinza", "ann@example.org").unwrap();
        assert!(url.starts_with("otpauth://totp/Dzinza:ann%40example.org?"));
        assert!(url.contains(&format!("secret={secret}")));
        assert!(qr_svg(&url).unwrap().contains("<svg"));
    }

    #[test]
    fn backup_codes_are_distinct_and_hash_normalised() {
        let codes = new_backup_codes();
        assert_eq!(codes.len(), 10);
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
        assert_eq!(
            backup_code_hash("u", "ABCDE-fghjk"),
            backup_code_hash("u", "abcdefghjk")
        );
        assert_ne!(
            backup_code_hash("u", "abcde"),
            backup_code_hash("v", "abcde")
        );
    }
}
