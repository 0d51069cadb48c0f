//! A small parser of the Google Ads Query Language (GAQL): enough of its
//! grammar for the reports connectors send,
//! `SELECT f, … FROM resource [WHERE c AND …] [ORDER BY f [ASC|DESC], …] [LIMIT n]`.

/// A value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A quoted string or a bare enum constant such as `ENABLED`.
    Text(String),
    /// A number.
    Number(f64),
}

/// A comparison of the WHERE clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN (…)`
    In,
    /// `NOT IN (…)`
    NotIn,
    /// `BETWEEN a AND b`, both ends included.
    Between,
}

/// One condition of the WHERE clause; conditions are joined with `AND`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The field compared, for example `segments.date`.
    pub field: String,
    /// How it is compared.
    pub operator: Operator,
    /// One value, two for `BETWEEN`, a list for `IN`.
    pub values: Vec<Literal>,
}

/// One key of the ORDER BY clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordering {
    /// The field sorted on.
    pub field: String,
    /// `DESC`.
    pub descending: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The selected fields, in order.
    pub fields: Vec<String>,
    /// The resource of the FROM clause.
    pub resource: String,
    /// The WHERE conditions.
    pub conditions: Vec<Condition>,
    /// The ORDER BY keys.
    pub order_by: Vec<Ordering>,
    /// The LIMIT.
    pub limit: Option<usize>,
}

/// Why a query is refused: a `QueryError` code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The `QueryErrorEnum` name, for example `UNRECOGNIZED_FIELD`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl QueryError {
    /// A refusal with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
}

fn tokenize(query: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some((_, ch)) if ch == c => break,
                    Some((_, '\n')) => {
                        return Err(QueryError::new(
                            "PROHIBITED_NEWLINE_IN_STRING",
                            "Error in query: a string literal spans lines.",
                        ));
                    }
                    Some((_, ch)) => text.push(ch),
                    None => {
                        return Err(QueryError::new(
                            "UNEXPECTED_END_OF_QUERY",
                            "Error in query: unterminated string literal.",
                        ));
                    }
                }
            }
            tokens.push(Token::Text(text));
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            let mut end = start;
            while let Some(&(i, ch)) = chars.peek() {
                if ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-') {
                    end = i + ch.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &query[start..end];
            let numeric = word.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-');
            match (numeric, word.parse::<f64>()) {
                (true, Ok(number)) => tokens.push(Token::Number(number)),
                (true, Err(_)) => {
                    return Err(QueryError::new(
                        "BAD_NUMBER",
                        format!("Error in query: `{word}` is not a number."),
                    ));
                }
                (false, _) => tokens.push(Token::Word(word.to_string())),
            }
        } else {
            chars.next();
            let next = chars.peek().map(|&(_, ch)| ch);
            let symbol = match (c, next) {
                ('!', Some('=')) | ('<', Some('=')) | ('>', Some('=')) => {
                    chars.next();
                    match c {
                        '!' => "!=",
                        '<' => "<=",
                        _ => ">=",
                    }
                }
                ('=', _) => "=",
                ('<', _) => "<",
                ('>', _) => ">",
                ('(', _) => "(",
                (')', _) => ")",
                (',', _) => ",",
                _ => {
                    return Err(QueryError::new(
                        "BAD_SYMBOL",
                        format!("Error in query: unexpected character `{c}`."),
                    ));
                }
            };
            tokens.push(Token::Symbol(symbol));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    /// Whether the next token is the keyword `keyword`; consumes it if so.
    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.position += 1;
        }
        found
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if found {
            self.position += 1;
        }
        found
    }

    fn field(&mut self, clause: &str) -> Result<String, QueryError> {
        match self.next() {
            Some(Token::Word(word)) if is_field_name(&word) => Ok(word),
            Some(other) => Err(QueryError::new(
                "BAD_FIELD_NAME",
                format!(
                    "Error in {clause} clause: invalid field name {}.",
                    describe(&other)
                ),
            )),
            None => Err(end_of_query(clause)),
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Number(number)) => Ok(Literal::Number(number)),
            Some(Token::Word(word)) => Ok(Literal::Text(word)),
            Some(Token::Symbol(symbol)) => Err(QueryError::new(
                "BAD_VALUE",
                format!("Error in WHERE clause: expected a value, found `{symbol}`."),
            )),
            None => Err(end_of_query("WHERE")),
        }
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        let field = self.field("WHERE")?;
        let (operator, values) = if self.keyword("BETWEEN") {
            let low = self.literal()?;
            if !self.keyword("AND") {
                return Err(QueryError::new(
                    "EXPECTED_AND",
                    "Error in WHERE clause: BETWEEN needs `AND` between its two values.",
                ));
            }
            (Operator::Between, vec![low, self.literal()?])
        } else if self.keyword("IN") {
            (Operator::In, self.list()?)
        } else if self.keyword("NOT") {
            if !self.keyword("IN") {
                return Err(QueryError::new(
                    "BAD_OPERATOR",
                    "Error in WHERE clause: expected `NOT IN`.",
                ));
            }
            (Operator::NotIn, self.list()?)
        } else {
            let operator = match self.next() {
                Some(Token::Symbol("=")) => Operator::Eq,
                Some(Token::Symbol("!=")) => Operator::NotEq,
                Some(Token::Symbol("<")) => Operator::Lt,
                Some(Token::Symbol("<=")) => Operator::Le,
                Some(Token::Symbol(">")) => Operator::Gt,
                Some(Token::Symbol(">=")) => Operator::Ge,
                Some(other) => {
                    return Err(QueryError::new(
                        "BAD_OPERATOR",
                        format!("Error in WHERE clause: invalid operator {}.", describe(&other)),
                    ));
                }
                None => return Err(end_of_query("WHERE")),
            };
            (operator, vec![self.literal()?])
        };
        Ok(Condition {
            field,
            operator,
            values,
        })
    }

    fn list(&mut self) -> Result<Vec<Literal>, QueryError> {
        if !self.symbol("(") {
            return Err(QueryError::new(
                "EXPECTED_LIST",
                "Error in WHERE clause: IN needs a parenthesised list.",
            ));
        }
        let mut values = Vec::new();
        if self.symbol(")") {
            return Err(QueryError::new(
                "PROHIBITED_EMPTY_LIST_IN_CONDITION",
                "Error in WHERE clause: empty list.",
            ));
        }
        loop {
            values.push(self.literal()?);
            if self.symbol(")") {
                return Ok(values);
            }
            if !self.symbol(",") {
                return Err(QueryError::new(
                    "EXPECTED_LIST",
                    "Error in WHERE clause: expected `,` or `)` in a list.",
                ));
            }
        }
    }
}

fn is_field_name(word: &str) -> bool {
    word.contains('.')
        && word.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{w}`"),
        Token::Text(t) => format!("'{t}'"),
        Token::Number(n) => format!("`{n}`"),
        Token::Symbol(s) => format!("`{s}`"),
    }
}

fn end_of_query(clause: &str) -> QueryError {
    QueryError::new(
        "UNEXPECTED_END_OF_QUERY",
        format!("Error in {clause} clause: unexpected end of query."),
    )
}

/// Parse `query`.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    let mut parser = Parser {
        tokens: tokenize(query)?,
        position: 0,
    };
    if !parser.keyword("SELECT") {
        return Err(QueryError::new(
            "EXPECTED_SELECT",
            "Error in query: expected SELECT.",
        ));
    }
    let mut fields = vec![parser.field("SELECT")?];
    while parser.symbol(",") {
        fields.push(parser.field("SELECT")?);
    }
    if !parser.keyword("FROM") {
        return Err(QueryError::new("EXPECTED_FROM", "Error in query: expected FROM."));
    }
    let resource = match parser.next() {
        Some(Token::Word(word)) if !word.contains('.') => word,
        Some(other) => {
            return Err(QueryError::new(
                "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE",
                format!("Error in FROM clause: invalid resource {}.", describe(&other)),
            ));
        }
        None => return Err(end_of_query("FROM")),
    };
    let mut conditions = Vec::new();
    if parser.keyword("WHERE") {
        conditions.push(parser.condition()?);
        while parser.keyword("AND") {
            conditions.push(parser.condition()?);
        }
    }
    let mut order_by = Vec::new();
    if parser.keyword("ORDER") {
        if !parser.keyword("BY") {
            return Err(QueryError::new(
                "EXPECTED_BY",
                "Error in ORDER BY clause: expected BY.",
            ));
        }
        loop {
            let field = parser.field("ORDER BY")?;
            let descending = parser.keyword("DESC");
            if !descending {
                parser.keyword("ASC");
            }
            order_by.push(Ordering { field, descending });
            if !parser.symbol(",") {
                break;
            }
        }
    }
    let mut limit = None;
    if parser.keyword("LIMIT") {
        match parser.next() {
            Some(Token::Number(n)) if n >= 1.0 && n.fract() == 0.0 => limit = Some(n as usize),
            _ => {
                return Err(QueryError::new(
                    "BAD_LIMIT_VALUE",
                    "Error in LIMIT clause: expected a positive integer.",
                ));
            }
        }
    }
    if let Some(extra) = parser.next() {
        return Err(QueryError::new(
            "UNEXPECTED_INPUT",
            format!("Error in query: unexpected input {}.", describe(&extra)),
        ));
    }
    Ok(Query {
        fields,
        resource,
        conditions,
        order_by,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_report_query() {
        let query = parse(
            "SELECT campaign.id, metrics.cost_micros, segments.date FROM campaign \
             WHERE segments.date BETWEEN '2026-06-01' AND '2026-06-30' AND campaign.status IN ('ENABLED', PAUSED) \
             AND campaign.id = 21 ORDER BY segments.date, campaign.id DESC LIMIT 10",
        )
        .expect("valid");
        assert_eq!(
            query.fields,
            ["campaign.id", "metrics.cost_micros", "segments.date"]
        );
        assert_eq!(query.resource, "campaign");
        assert_eq!(query.conditions.len(), 3);
        assert_eq!(query.conditions[0].operator, Operator::Between);
        assert_eq!(
            query.conditions[1].values,
            [Literal::Text("ENABLED".into()), Literal::Text("PAUSED".into())]
        );
        assert_eq!(query.conditions[2].values, [Literal::Number(21.0)]);
        assert!(query.order_by[1].descending && !query.order_by[0].descending);
        assert_eq!(query.limit, Some(10));
    }

    #[test]
    fn refuses_bad_queries_with_query_error_codes() {
        let code = |q: &str| parse(q).map(|_| ()).map_err(|e| e.code);
        assert_eq!(code("campaign.id FROM campaign"), Err("EXPECTED_SELECT"));
        assert_eq!(code("SELECT campaign.id campaign"), Err("EXPECTED_FROM"));
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE"),
            Err("UNEXPECTED_END_OF_QUERY")
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE segments.date BETWEEN 'a' 'b'"),
            Err("EXPECTED_AND")
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.status IN ()"),
            Err("PROHIBITED_EMPTY_LIST_IN_CONDITION")
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign LIMIT 0"),
            Err("BAD_LIMIT_VALUE")
        );
        assert_eq!(
            code("SELECT campaign.id FROM campaign WHERE campaign.id ~ 1"),
            Err("BAD_SYMBOL")
        );
    }
}
