//! Number formatting for rationales: people read these, so money gets its
//! symbol and thousands separators, rates get percent signs, and negative
//! numbers a real minus sign.

/// A signed number with `decimals` places and a typographic minus.
pub fn signed(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => format!("−{rest}"),
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// A rate as a percentage with two decimals: `0.0172` → `1.72%`.
pub fn rate(value: f64) -> String {
    format!("{:.2}%", value * 100.0)
}

/// A relative change as a signed whole percentage: `-0.384` → `−38%`.
pub fn change(value: f64) -> String {
    let text = signed(value * 100.0, 0);
    if value > 0.0 && text != "0" {
        format!("+{text}%")
    } else {
        format!("{text}%")
    }
}

/// A p-value as people quote it: `p = 0.012`, `p < 0.001`.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// Money with its currency's symbol (or code) and thousands separators.
pub fn money(amount: f64, currency: Option<&str>) -> String {
    let cents = (amount.abs() * 100.0).round() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let number = format!("{grouped}.{:02}", cents % 100);
    let sign = if amount < 0.0 && cents > 0 { "−" } else { "" };
    let code = currency.unwrap_or_default().to_ascii_uppercase();
    match code.as_str() {
        "USD" => format!("{sign}${number}"),
        "EUR" => format!("{sign}€{number}"),
        "GBP" => format!("{sign}£{number}"),
        "" => format!("{sign}{number}"),
        other => format!("{sign}{number} {other}"),
    }
}

/// The platform's name for people: `meta-ads` → `Meta Ads`.
pub fn platform(connector: &str) -> String {
    match connector {
        "meta-ads" => "Meta Ads".into(),
        "google-ads" => "Google Ads".into(),
        "tiktok-ads" => "TikTok Ads".into(),
        "linkedin-ads" => "LinkedIn Ads".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(signed(-12.34, 1), "−12.3");
        assert_eq!(signed(-0.01, 1), "0.0");
        assert_eq!(rate(0.0172), "1.72%");
        assert_eq!(change(-0.384), "−38%");
        assert_eq!(change(0.25), "+25%");
        assert_eq!(p_value(0.0123), "p = 0.012");
        assert_eq!(p_value(1e-9), "p < 0.001");
        assert_eq!(money(1412.5, Some("USD")), "$1,412.50");
        assert_eq!(money(-39.2, Some("usd")), "−$39.20");
        assert_eq!(money(1_000_000.0, Some("SEK")), "1,000,000.00 SEK");
        assert_eq!(money(5.0, None), "5.00");
        assert_eq!(platform("tiktok-ads"), "TikTok Ads");
    }
}
