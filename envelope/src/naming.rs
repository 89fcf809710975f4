//! Identifier normalisation: snake_case names (Nilus's default), or names as they are with
//! `SCHEMA_NAMING=direct` ([`Naming::from_env`]).

/// How decoded field names become column names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    /// `userId` -> `user_id`, `Order Total` -> `order_total` (the default).
    #[default]
    Snake,
    /// Names as they are (`SCHEMA_NAMING=direct`).
    Direct,
}

impl Naming {
    /// The rule the `SCHEMA_NAMING` environment variable selects (`direct`, any case), else
    /// snake_case.
    pub fn from_env() -> Self {
        match std::env::var("SCHEMA_NAMING") {
            Ok(v) if v.trim().eq_ignore_ascii_case("direct") => Self::Direct,
            _ => Self::Snake,
        }
    }

    /// The column name for a field name.
    pub fn apply(self, name: &str) -> String {
        match self {
            Self::Direct => name.to_string(),
            Self::Snake => snake_case(name),
        }
    }
}

/// `userId` -> `user_id`, `HTTPStatus` -> `http_status`, `a-b c` -> `a_b_c`, `__x` -> `__x`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            if c.is_uppercase() {
                let prev = i.checked_sub(1).map(|j| chars[j]);
                let next = chars.get(i + 1);
                let boundary = match prev {
                    Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                    Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                    _ => false,
                };
                if boundary && !out.ends_with('_') {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        } else if c == '_' || !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.ends_with('_') && !name.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        "_".to_string()
    } else {
        out
    }
}

/// The variant column of `column` for values of type `t` that its own type cannot hold:
/// `<col>__v_<type>` with dlt's type names (`text`, `bigint`, `double`, `bool`, `timestamp`,
/// `date`, `time`, `decimal`, `binary`; objects, arrays and anything else as JSON text in
/// `json`). One rule for the decode stage and every sink.
pub fn variant_name(column: &str, t: &arrow_schema::DataType) -> String {
    use arrow_schema::DataType::*;
    let name = match t {
        Utf8 | LargeUtf8 | Utf8View => "text",
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "bigint",
        Float16 | Float32 | Float64 => "double",
        Boolean => "bool",
        Timestamp(_, _) => "timestamp",
        Date32 | Date64 => "date",
        Time32(_) | Time64(_) => "time",
        Decimal32(_, _) | Decimal64(_, _) | Decimal128(_, _) | Decimal256(_, _) => "decimal",
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "binary",
        _ => "json",
    };
    format!("{column}__v_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_like_nilus() {
        for (i, o) in [
            ("userId", "user_id"),
            ("user_id", "user_id"),
            ("HTTPStatus", "http_status"),
            ("Order Total", "order_total"),
            ("a-b", "a_b"),
            ("_kafka_key", "_kafka_key"),
            ("id", "id"),
            ("v2Name", "v2_name"),
        ] {
            assert_eq!(snake_case(i), o, "{i}");
        }
        assert_eq!(Naming::Direct.apply("userId"), "userId");
    }
}
