//! Python's `shlex.split(line, comments=True)` (POSIX mode), which Ansible's INI
//! plugin uses on host lines. Its quirks are the compatibility surface: an
//! unquoted `#` ends the line even inside a word (`pass=a#b` gives `pass=a`),
//! quotes group text, and a backslash escapes the next character.

const WHITESPACE: [char; 4] = [' ', '\t', '\r', '\n'];

#[derive(Debug, PartialEq)]
pub enum ShlexError {
    NoClosingQuotation,
    NoEscapedCharacter,
}

impl std::fmt::Display for ShlexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShlexError::NoClosingQuotation => f.write_str("No closing quotation"),
            ShlexError::NoEscapedCharacter => f.write_str("No escaped character"),
        }
    }
}

/// One token of a split line, with whether an unquoted `#` cut the line right
/// after it (used to warn about silently truncated passwords).
#[derive(Debug, PartialEq)]
pub struct Split {
    pub tokens: Vec<String>,
    /// Byte offset in the line where an unquoted comment began, if any.
    pub comment_at: Option<usize>,
}

pub fn split(line: &str) -> Result<Split, ShlexError> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut in_token = false; // state 'a', or a quoted/escaped run
    let mut quoted = false;
    let mut chars = line.char_indices().peekable();
    let mut comment_at = None;
    while let Some((pos, c)) = chars.next() {
        if WHITESPACE.contains(&c) {
            if in_token || quoted {
                tokens.push(std::mem::take(&mut token));
            }
            in_token = false;
            quoted = false;
        } else if c == '#' {
            comment_at = Some(pos);
            break;
        } else if c == '\\' {
            match chars.next() {
                Some((_, n)) => token.push(n),
                None => return Err(ShlexError::NoEscapedCharacter),
            }
            in_token = true;
        } else if c == '\'' || c == '"' {
            quoted = true;
            in_token = true;
            loop {
                match chars.next() {
                    None => return Err(ShlexError::NoClosingQuotation),
                    Some((_, q)) if q == c => break,
                    Some((_, '\\')) if c == '"' => match chars.next() {
                        None => return Err(ShlexError::NoClosingQuotation),
                        Some((_, n)) => {
                            // Inside double quotes only `"` and `\` are escapable.
                            if n != '"' && n != '\\' {
                                token.push('\\');
                            }
                            token.push(n);
                        }
                    },
                    Some((_, other)) => token.push(other),
                }
            }
        } else {
            token.push(c);
            in_token = true;
        }
    }
    if in_token || quoted {
        tokens.push(token);
    }
    Ok(Split { tokens, comment_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        split(s).unwrap().tokens
    }

    #[test]
    fn splits_like_python_shlex() {
        assert_eq!(toks("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(toks("x=\"a b#c\" y=a#b z=1"), ["x=a b#c", "y=a"]);
        assert_eq!(toks(r"p=a\#b"), ["p=a#b"]);
        assert_eq!(toks(r#"p='it''s' q="a\"b\n""#), ["p=its", "q=a\"b\\n"]);
        assert_eq!(toks("''"), [""]);
        assert_eq!(toks("a #c"), ["a"]);
        assert_eq!(split("a 'b").unwrap_err(), ShlexError::NoClosingQuotation);
        assert_eq!(split("a \\").unwrap_err(), ShlexError::NoEscapedCharacter);
    }

    #[test]
    fn reports_where_a_comment_cut_the_line() {
        assert_eq!(split("h pass=ab#cd").unwrap().comment_at, Some(9));
        assert_eq!(split("h pass='ab#cd'").unwrap().comment_at, None);
    }
}
