//! The first token of a host line: `name`, `name:port`, `[v6]:port`, and host
//! ranges such as `node[01:10]` or `db-[a:c]` — Ansible's `parse_address` and
//! `expand_hostname_range`, including their fallbacks (a pattern Ansible cannot
//! parse as an address is kept whole, port text and all).

use fancy_regex::Regex;
use std::sync::OnceLock;

struct Patterns {
    bracketed_hostport: Regex,
    hostport: Regex,
    ipv4: Regex,
    ipv6: Regex,
    hostname: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let numeric_range = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
        let hex_range = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
        let alnum_range = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";
        let i6 = format!(r"(?:[0-9a-f]{{1,4}}|{hex_range})");
        let i4 = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{numeric_range})");
        // Python's `\w` is `str.isalnum()` or `_`: letters and numbers, but not
        // the combining marks that Rust's `\w` also takes (`cafe\u{301}`).
        let word = r"\p{L}\p{N}_";
        let label = format!(r"(?:[{word}]|{alnum_range})(?:[{word}-]|{alnum_range})*(?<![_-])");
        let ipv6 = [
            format!("(?:{i6}:){{7}}{i6}"),
            format!("(?:{i6}:){{1,6}}:"),
            format!("(?:{i6}:)(?::{i6}){{1,6}}"),
            format!("(?:{i6}:){{2}}(?::{i6}){{1,5}}"),
            format!("(?:{i6}:){{3}}(?::{i6}){{1,4}}"),
            format!("(?:{i6}:){{4}}(?::{i6}){{1,3}}"),
            format!("(?:{i6}:){{5}}(?::{i6}){{1,2}}"),
            format!("(?:{i6}:){{6}}(?::{i6})"),
            format!(":(?::{i6}){{1,6}}"),
            format!("{i6}?::"),
            format!(r"(?:0:){{6}}(?:{i6}\.){{3}}{i6}"),
            format!(r"::(?:ffff:)?(?:{i6}\.){{3}}{i6}"),
            format!(r"(?:0:){{5}}ffff:(?:{i6}\.){{3}}{i6}"),
        ]
        .join("|");
        let re = |s: &str| Regex::new(s).expect("static inventory pattern compiles");
        Patterns {
            bracketed_hostport: re(r"^\[(.+)\]:([0-9]+)$"),
            hostport: re(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"),
            ipv4: re(&format!(r"(?i)^(?:{i4}\.){{3}}{i4}$")),
            ipv6: re(&format!(r"(?i)^({ipv6})$")),
            hostname: re(&format!(r"(?i)^{label}(?:\.{label})*$")),
        }
    })
}

fn matches(re: &Regex, s: &str) -> bool {
    re.is_match(s).unwrap_or(false)
}

/// `parse_address(address, allow_ranges=True)`: `None` when Ansible would raise.
fn parse_address(address: &str) -> Option<(String, Option<String>)> {
    let p = patterns();
    let mut address = address.to_string();
    let mut port = None;
    for re in [&p.bracketed_hostport, &p.hostport] {
        let caps = re.captures(&address).ok().flatten();
        if let Some(caps) = caps {
            let host = caps
                .get(1)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            port = caps.get(2).map(|m| m.as_str().to_string());
            address = host;
        }
    }
    if matches(&p.ipv4, &address) || matches(&p.ipv6, &address) || matches(&p.hostname, &address) {
        Some((address, port))
    } else {
        None
    }
}

/// Expanded host names and the port that applies to all of them.
#[derive(Debug, PartialEq)]
pub struct HostPattern {
    pub names: Vec<String>,
    /// Digits only, as matched; may exceed any real port (Ansible keeps it as int).
    pub port: Option<String>,
}

pub fn expand(pattern: &str) -> Result<HostPattern, String> {
    let (host, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let names = if host.contains('[') {
        expand_range(&host)?
    } else {
        vec![host]
    };
    if pattern.trim().ends_with(':') && port.is_none() {
        return Err(format!(
            "Invalid host pattern '{pattern}' supplied, ending in ':' is not allowed, this character is reserved to provide a port."
        ));
    }
    if names.iter().any(|n| n.trim() == "---") {
        return Err(format!(
            "Invalid host pattern '{pattern}' supplied, '---' is normally a sign this is a YAML file."
        ));
    }
    Ok(HostPattern { names, port })
}

/// Far beyond any real cluster; stops `n[0:99999][0:99999]` from exhausting memory.
const MAX_HOSTS: usize = 100_000;

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Python's `int()` on range bounds: optional sign and surrounding whitespace,
/// underscores between digits.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn expand_range(line: &str) -> Result<Vec<String>, String> {
    // head[range]tail, split at the first '[' and the first ']' after replacing.
    let open = line.find('[').expect("caller checked for '['");
    let replaced = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = replaced.split('|').collect();
    if parts.len() != 3 {
        return Err(format!(
            "host range '{line}' is malformed (expected one [begin:end] block around position {open})"
        ));
    }
    let (head, nrange, tail) = (parts[0], parts[1], parts[2]);
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step_text = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let width = if beg.starts_with('0') && beg.chars().count() > 1 {
        if beg.chars().count() != end.chars().count() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        Some(beg.chars().count())
    } else {
        None
    };
    let fill = |s: String| match width {
        Some(w) => zfill(&s, w),
        None => s,
    };
    let step = py_int(step_text)
        .ok_or_else(|| format!("invalid literal for int() with base 10: '{step_text}'"))?;
    let seq: Vec<String> = match (ASCII_LETTERS.find(beg), ASCII_LETTERS.find(end)) {
        // Python's `ascii_letters.index(beg)` finds any substring, not just one letter.
        (Some(b), Some(e)) => {
            if b > e {
                return Err("host range must have begin <= end".into());
            }
            if step == 0 {
                return Err("slice step cannot be zero".into());
            }
            let letters: Vec<char> = ASCII_LETTERS[b..=e].chars().collect();
            if step > 0 {
                letters
                    .iter()
                    .step_by(step as usize)
                    .map(|c| c.to_string())
                    .collect()
            } else {
                // Python slicing [b:e+1:-n] walks backwards from b: always empty here.
                vec![]
            }
        }
        _ => {
            let b = py_int(beg)
                .ok_or_else(|| format!("invalid literal for int() with base 10: '{beg}'"))?;
            let e = py_int(end)
                .ok_or_else(|| format!("invalid literal for int() with base 10: '{end}'"))?;
            if step == 0 {
                return Err("range() arg 3 must not be zero".into());
            }
            let count = if step > 0 {
                (e + 1 - b).max(0) / step
            } else {
                (b - e - 1).max(0) / -step
            };
            if count > MAX_HOSTS as i64 {
                return Err(format!(
                    "host range '{line}' expands to more than {MAX_HOSTS} hosts"
                ));
            }
            let mut out = Vec::new();
            let mut v = b;
            while (step > 0 && v < e + 1) || (step < 0 && v > e + 1) {
                out.push(v.to_string());
                v += step;
            }
            out
        }
    };
    let mut hosts = Vec::new();
    for item in seq {
        let name = format!("{}{}{}", head, fill(item), tail);
        if name.contains('[') {
            hosts.extend(expand_range(&name)?);
        } else {
            hosts.push(name);
        }
        if hosts.len() > MAX_HOSTS {
            return Err(format!(
                "host range '{line}' expands to more than {MAX_HOSTS} hosts"
            ));
        }
    }
    Ok(hosts)
}

/// Python's `str.zfill`: pad with zeros after any sign.
fn zfill(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let pad = "0".repeat(width - len);
    match s.strip_prefix('-') {
        Some(rest) => format!("-{pad}{rest}"),
        None => match s.strip_prefix('+') {
            Some(rest) => format!("+{pad}{rest}"),
            None => format!("{pad}{s}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand(p).unwrap().names
    }

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(names("node[1:3]"), ["node1", "node2", "node3"]);
        assert_eq!(names("n[01:03]"), ["n01", "n02", "n03"]);
        assert_eq!(names("n[a:c]x"), ["nax", "nbx", "ncx"]);
        assert_eq!(names("n[0:6:3]"), ["n0", "n3", "n6"]);
        assert_eq!(names("n[:1]"), ["n0", "n1"]);
        assert_eq!(names("db[01:03:2]-[a:b]").len(), 4);
        assert!(expand("n[01:100]").is_err());
    }

    #[test]
    fn ports_and_addresses() {
        assert_eq!(expand("host:2222").unwrap().port.as_deref(), Some("2222"));
        assert_eq!(
            expand("[::1]:22").unwrap(),
            HostPattern {
                names: vec!["::1".into()],
                port: Some("22".into())
            }
        );
        assert_eq!(
            expand("10.0.0.[1:2]:22").unwrap().names,
            ["10.0.0.1", "10.0.0.2"]
        );
        // Not an address: kept whole, colon and all.
        assert_eq!(
            expand("bad_:22").unwrap(),
            HostPattern {
                names: vec!["bad_:22".into()],
                port: None
            }
        );
        assert!(expand("host:").is_err());
    }
}
