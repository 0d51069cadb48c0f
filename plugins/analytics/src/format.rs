//! Numbers as people read them in rationales, and rounded for JSON data.

/// Formats money in one currency, for example `$1,412.50` or `EUR 80.00`.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    prefix: String,
}

impl Money {
    /// A formatter for an ISO 4217 code; `$` when none is known.
    pub fn new(currency: Option<&str>) -> Self {
        let prefix = match currency.unwrap_or("USD") {
            "USD" => "$".to_string(),
            "EUR" => "€".to_string(),
            "GBP" => "£".to_string(),
            other => format!("{other} "),
        };
        Self { prefix }
    }

    /// `amount` with thousands separators and two decimals.
    pub fn fmt(&self, amount: f64) -> String {
        let sign = if amount < 0.0 { "-" } else { "" };
        let cents = (amount.abs() * 100.0).round() as u64;
        let whole = (cents / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{sign}{}{grouped}.{:02}", self.prefix, cents % 100)
    }
}

/// Rounds to two decimals (money in data).
pub fn r2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Rounds to four decimals (ratios in data).
pub fn r4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// `numerator / denominator`, or `None` when the denominator is zero.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

/// A ratio for rationales, `n/a` when undefined.
pub fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.decimals$}"))
}

/// A p-value for rationales: `p < 0.001` below that.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_naturally() {
        let usd = Money::new(Some("USD"));
        assert_eq!(usd.fmt(1412.5), "$1,412.50");
        assert_eq!(usd.fmt(1_234_567.891), "$1,234,567.89");
        assert_eq!(usd.fmt(-16.0), "-$16.00");
        assert_eq!(usd.fmt(0.0), "$0.00");
        assert_eq!(Money::new(Some("SEK")).fmt(80.0), "SEK 80.00");
        assert_eq!(show(None, 2), "n/a");
        assert_eq!(p_value(0.0001), "p < 0.001");
    }
}
