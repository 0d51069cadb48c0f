//! Cross-site request forgery: every form carries a token in a hidden
//! field, compared in constant time with the one the host holds for the
//! session (the sign-in form, before there is a session, with the one in a
//! short-lived cookie of its own). A POST without the right token is
//! refused before anything is read or changed.

use omnify_control::vault::{VaultError, random_hex};
use subtle::ConstantTimeEq;

/// The hidden field every form carries.
pub const CSRF_FIELD: &str = "csrf";

/// The cookie holding the sign-in form's token.
pub const SIGN_IN_COOKIE: &str = "omnify_console_sign_in";

/// A form token: 256 random bits, hex.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

impl CsrfToken {
    /// A fresh token.
    pub fn random() -> Result<Self, VaultError> {
        random_hex(32).map(Self)
    }

    /// The token as the hidden field carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` (a form's field) is this token, in time that does
    /// not depend on where they differ.
    pub fn matches(&self, given: Option<&str>) -> bool {
        given.is_some_and(|given| bool::from(self.0.as_bytes().ct_eq(given.as_bytes())))
    }
}

/// Whether the sign-in form's `field` matches its `cookie`; both must be
/// present and non-empty.
pub fn sign_in_matches(cookie: Option<&str>, field: Option<&str>) -> bool {
    match cookie.filter(|c| !c.is_empty()) {
        Some(cookie) => CsrfToken(cookie.to_string()).matches(field),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        let token = CsrfToken::random().expect("random");
        assert_eq!(token.as_str().len(), 64);
        assert!(token.matches(Some(token.as_str())));
        assert!(!token.matches(None));
        assert!(!token.matches(Some("")));
        assert!(!token.matches(Some(&token.as_str()[1..])));
        assert!(!token.matches(Some(&CsrfToken::random().expect("random").0)));
    }

    #[test]
    fn the_sign_in_form_needs_its_cookie() {
        assert!(sign_in_matches(Some("abc"), Some("abc")));
        assert!(!sign_in_matches(None, Some("abc")));
        assert!(!sign_in_matches(Some(""), Some("")));
        assert!(!sign_in_matches(Some("abc"), None));
        assert!(!sign_in_matches(Some("abc"), Some("abd")));
    }
}
