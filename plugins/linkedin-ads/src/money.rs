//! Money as LinkedIn writes it: decimal strings in major units (`"150.00"`,
//! `"209.449"`), in a `{amount, currencyCode}` pair for budgets. Records get
//! numbers in major units, like every ad connector's; budgets sent back are
//! whole amounts of the currency's smallest unit.

use omnify_sdk::{Error, Value};

/// A decimal amount LinkedIn sent as a string (or, leniently, a number);
/// `None` when absent.
pub fn decimal(value: &Value, what: &str) -> Result<Option<f64>, Error> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => Ok(number.as_f64()),
        Value::String(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|amount| amount.is_finite())
            .map(Some)
            .ok_or_else(|| Error::internal(format!("LinkedIn sent {what} `{text}`, not an amount"))),
        other => Err(Error::internal(format!(
            "LinkedIn sent {what} {other}, not an amount"
        ))),
    }
}

/// The ISO 4217 exponent of `currency`: 0 for the zero-decimal currencies,
/// 3 for the three-decimal ones, 2 otherwise.
pub fn exponent(currency: &str) -> u32 {
    const ZERO_DECIMAL: [&str; 16] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
        "XOF", "XPF",
    ];
    const THREE_DECIMAL: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let currency = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        3
    } else {
        2
    }
}

/// `amount` of `currency` as LinkedIn's decimal string with the currency's
/// decimals (`12.3` USD → `"12.30"`), refusing a fraction of the smallest
/// unit rather than rounding money silently.
pub fn amount_text(amount: f64, currency: &str) -> Result<String, Error> {
    let decimals = exponent(currency);
    let scale = 10f64.powi(decimals as i32);
    let minor = amount * scale;
    let rounded = minor.round();
    if !amount.is_finite() || (minor - rounded).abs() > 1e-6 || rounded >= 1e15 {
        return Err(Error::invalid_input(format!(
            "`daily_budget` {amount} is not a whole amount of {currency}'s smallest unit"
        )));
    }
    let minor = rounded as i64;
    if decimals == 0 {
        return Ok(minor.to_string());
    }
    let unit = 10i64.pow(decimals);
    Ok(format!(
        "{}.{:0width$}",
        minor / unit,
        minor % unit,
        width = decimals as usize
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnify_sdk::json;

    #[test]
    fn decimal_strings_parse_exactly() {
        assert_eq!(decimal(&json!("123.45"), "cost"), Ok(Some(12_345.0 / 100.0)));
        assert_eq!(decimal(&json!("209.449"), "cost"), Ok(Some(209.449)));
        assert_eq!(decimal(&json!(7), "cost"), Ok(Some(7.0)));
        assert_eq!(decimal(&Value::Null, "cost"), Ok(None));
        assert!(decimal(&json!("12,5"), "cost").is_err());
        assert!(decimal(&json!(true), "cost").is_err());
    }

    #[test]
    fn budgets_are_whole_minor_units_with_the_currencys_decimals() {
        assert_eq!(amount_text(123.45, "USD").as_deref(), Ok("123.45"));
        assert_eq!(amount_text(12.3, "EUR").as_deref(), Ok("12.30"));
        assert_eq!(amount_text(0.1 + 0.2, "USD").as_deref(), Ok("0.30"));
        assert_eq!(amount_text(5000.0, "JPY").as_deref(), Ok("5000"));
        assert_eq!(amount_text(1.234, "KWD").as_deref(), Ok("1.234"));
        assert!(matches!(amount_text(60.005, "USD"), Err(Error::InvalidInput(m)) if m.contains("60.005")));
        assert!(amount_text(10.5, "JPY").is_err());
        assert!(amount_text(f64::INFINITY, "USD").is_err());
    }
}
