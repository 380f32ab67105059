//! Inventory values as Ansible holds them after `ast.literal_eval`, and their
//! JSON text exactly as Python's `json.dumps(sort_keys=True, indent=4)` writes it,
//! so `ksinstall inventory --list` can be compared byte for byte with
//! `ansible-inventory --list`.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    /// Python ints are unbounded: kept as canonical decimal text (`-12`, `0`).
    Int(String),
    Float(f64),
    Str(String),
    /// Text from a bytes literal (`b'x'`): Ansible decodes it but does not tag
    /// it as trusted for templating, so `--list` shows it as
    /// `{"__ansible_unsafe": "x"}`. Everywhere else it is plain text.
    Unsafe(String),
    /// Lists, tuples and sets all reach the inventory as lists.
    List(Vec<Value>),
    /// Insertion ordered, as a Python dict.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    /// The text a value stands for where a string is expected (a password
    /// written `123456` is an int to Ansible, but it is still that text).
    pub fn to_text(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.clone(),
            Value::Float(f) => py_float_repr(*f),
            Value::Str(s) | Value::Unsafe(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_json(&mut out, None, 0);
                out
            }
        }
    }

    /// Ansible's `bool` filter: `yes`, `on`, `1`, `true`, `y`, `t` (any case) are true.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int(i) => i == "1",
            Value::Float(f) => *f == 1.0,
            Value::Str(s) | Value::Unsafe(s) => matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "yes" | "on" | "1" | "true" | "y" | "t"
            ),
            _ => false,
        }
    }

    /// JSON with Python's `json.dumps` conventions (`ensure_ascii`, `sort_keys`,
    /// float repr); `indent` of `None` means the compact one-line form.
    pub fn write_json(&self, out: &mut String, indent: Option<usize>, level: usize) {
        match self {
            Value::None => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(i),
            Value::Float(f) => out.push_str(&json_float(*f)),
            Value::Str(s) => write_json_str(out, s),
            Value::Unsafe(s) => {
                let wrapped = Value::Dict(vec![(
                    Value::str("__ansible_unsafe"),
                    Value::str(s.clone()),
                )]);
                wrapped.write_json(out, indent, level);
            }
            Value::List(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                        if indent.is_none() {
                            out.push(' ');
                        }
                    }
                    newline(out, indent, level + 1);
                    item.write_json(out, indent, level + 1);
                }
                newline(out, indent, level);
                out.push(']');
            }
            Value::Dict(entries) => {
                if entries.is_empty() {
                    out.push_str("{}");
                    return;
                }
                let sorted = json_entries(entries);
                out.push('{');
                for (n, (k, v)) in sorted.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                        if indent.is_none() {
                            out.push(' ');
                        }
                    }
                    newline(out, indent, level + 1);
                    write_json_str(out, k);
                    out.push_str(": ");
                    v.write_json(out, indent, level + 1);
                }
                newline(out, indent, level);
                out.push('}');
            }
        }
    }
}

/// The entries as Ansible's JSON encoder writes them: every key turned into
/// its JSON text first (`1` → `"1"`, `None` → `"null"`), a later key with the
/// same text replacing the earlier one's value, then sorted as text — so
/// `{10: 'a', 9: 'b'}` lists `"10"` before `"9"`.
fn json_entries(entries: &[(Value, Value)]) -> Vec<(String, &Value)> {
    let mut out: Vec<(String, &Value)> = Vec::new();
    for (k, v) in entries {
        let key = json_key(k);
        match out.iter_mut().find(|(ok, _)| *ok == key) {
            Some(slot) => slot.1 = v,
            None => out.push((key, v)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn json_key(k: &Value) -> String {
    match k {
        Value::Str(s) | Value::Unsafe(s) => s.clone(),
        Value::None => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.clone(),
        Value::Float(f) => json_float(*f),
        other => other.to_text(),
    }
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        for _ in 0..width * level {
            out.push(' ');
        }
    }
}

pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e && (c as u32) != 0x7f => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(str)`, for messages that quote a value the way Python would.
pub fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        py_float_repr(f)
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed
/// notation when the decimal exponent is in [-4, 16), scientific otherwise.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{:e}", f); // e.g. "-1.2345e-5", shortest round-trip digits
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1; // position of the decimal point relative to the digits
    let body = if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
        } else if decpt as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(decpt as usize - digits.len()))
        } else {
            let (a, b) = digits.split_at(decpt as usize);
            format!("{}.{}", a, b)
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{}", rest)
        };
        let e = decpt - 1;
        format!(
            "{}{}e{}{:02}",
            first,
            frac,
            if e < 0 { '-' } else { '+' },
            e.abs()
        )
    };
    format!("{}{}", sign, body)
}

/// `repr` of a Python float inside a complex number: integral values lose `.0`.
pub fn py_complex_part(f: f64) -> String {
    let r = py_float_repr(f);
    r.strip_suffix(".0").map(str::to_string).unwrap_or(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (123456789.125, "123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.0, "0.0"),
        ];
        for (f, want) in cases {
            assert_eq!(py_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn json_escapes_like_python() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\u{1}é😀\u{7f}");
        assert_eq!(out, "\"a\\\"b\\\\c\\u0001\\u00e9\\ud83d\\ude00\u{7f}\"");
    }

    #[test]
    fn truthiness_follows_the_bool_filter() {
        for yes in ["yes", "On", "1", "TRUE", "y"] {
            assert!(Value::str(yes).truthy(), "{yes}");
        }
        for no in ["no", "off", "0", "false", "", "2"] {
            assert!(!Value::str(no).truthy(), "{no}");
        }
        assert!(Value::Int("1".into()).truthy());
        assert!(Value::Bool(true).truthy());
    }
}
