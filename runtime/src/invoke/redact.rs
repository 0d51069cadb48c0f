//! Secret values never leave a call in clear: whatever the guest logs or
//! returns as an error (a platform's error body can echo a token) has the
//! enablement's secret values replaced before the host logs, stores,
//! audits or answers with it.

use super::InvocationContext;

/// What stands in for a secret value.
const MASK: &str = "[secret]";

/// Values shorter than this are not masked: they would mask ordinary text.
const MIN_SECRET_LEN: usize = 4;

/// The secret values of one call, longest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// The redactor of the call `ctx` describes.
    pub(crate) fn of(ctx: &InvocationContext) -> Self {
        let mut values: Vec<String> = ctx
            .secrets
            .values()
            .map(|secret| secret.expose().to_string())
            .filter(|value| value.len() >= MIN_SECRET_LEN)
            .collect();
        // A secret that contains another is masked whole.
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        Self { values }
    }

    /// `text` with every secret value masked.
    pub(crate) fn redact(&self, text: String) -> String {
        if !self.values.iter().any(|value| text.contains(value.as_str())) {
            return text;
        }
        self.values
            .iter()
            .fold(text, |text, value| text.replace(value.as_str(), MASK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::Secret;

    #[test]
    fn secret_values_are_masked_and_short_ones_left() {
        let mut ctx = InvocationContext::new("t", "p");
        ctx.secrets.insert("token".into(), Secret::new("sk_live_123"));
        ctx.secrets.insert("pin".into(), Secret::new("42"));
        let redactor = Redactor::of(&ctx);
        assert_eq!(
            redactor.redact("401: bad token sk_live_123 (42 tries)".into()),
            "401: bad token [secret] (42 tries)"
        );
    }
}
