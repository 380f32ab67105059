//! Bounds on what a configuration file may cost to read. The YAML parser
//! (libyaml's scanner) is quadratic in the nesting of `[`/`{`: 200 KB of
//! brackets kept `check` busy for a minute before its own recursion limit
//! refused them. A real vars.yml or KubeKey file is a few KB, nested a
//! few levels, so these bounds refuse only what is not a configuration.

use std::io::Read;
use std::path::Path;

/// The largest configuration file read (the shipped ones are under 20 KB).
pub const MAX_BYTES: u64 = 1 << 20;

/// The deepest nesting of flow collections (`[`, `{`) accepted.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Steps a `{{ }}` expression in a setting may take (minijinja's fuel): a
/// reference or a filter takes a few; a runaway loop is stopped, not run.
pub const TEMPLATE_FUEL: u64 = 100_000;

/// Reads a configuration file, refusing one over [`MAX_BYTES`] before
/// reading it (a mistaken path may name a disk image or a device).
pub fn read(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than the {} KiB a configuration file may be: is this the right file?",
            MAX_BYTES / 1024
        )));
    }
    Ok(text)
}

/// The 1-based line where flow collections nest deeper than
/// [`MAX_FLOW_DEPTH`], if they do. Brackets in quotes and comments do not
/// count; a `[` inside a plain word (`a[0]`) does not open a collection.
pub fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    let mut quote: Option<char> = None;
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            // A quoted scalar may span lines.
            (_, '\n') => line += 1,
            (Some('\''), '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
            }
            (Some('"'), '\\') => line += usize::from(chars.next() == Some('\n')),
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') if opens_scalar(prev, depth) => quote = Some(c),
            (None, '#') if prev.is_whitespace() => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            (None, '[' | '{') if depth > 0 || opens_scalar(prev, depth) => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    None
}

/// Whether a quote or bracket after `prev` starts a node rather than
/// sitting inside a plain word.
fn opens_scalar(prev: char, depth: usize) -> bool {
    prev.is_whitespace()
        || matches!(prev, ':' | '-' | '?')
        || (depth > 0 && matches!(prev, '[' | '{' | ','))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_brackets_are_found_on_their_line() {
        let deep = format!("a: 1\nx: {}{}\n", "[".repeat(65), "]".repeat(65));
        assert_eq!(too_deep(&deep), Some(2));
        let ok = format!("x: {}{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(too_deep(&ok), None);
    }

    #[test]
    fn brackets_in_words_quotes_and_comments_do_not_count() {
        let many = "[".repeat(100);
        for text in [
            format!("x: a{many}\n"),
            format!("x: '{many}'\n"),
            format!("x: \"{many}\"\n"),
            format!("x: 1 # {many}\n"),
            format!("x: {{a: 'it''s {many}'}}\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vars.yml");
        std::fs::write(&p, vec![b'#'; MAX_BYTES as usize + 1]).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("larger than the 1024 KiB"), "{e}");
        std::fs::write(&p, "a: 1\n").unwrap();
        assert_eq!(read(&p).unwrap(), "a: 1\n");
    }
}
