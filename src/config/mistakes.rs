//! Mistakes people make in YAML files, named with what was meant: the
//! generic parser messages ("found character that cannot start any token",
//! a silently empty password, "no `spec:` mapping") do not say what to fix.

use std::path::Path;

use serde_yaml::{Mapping, Value as Yaml};

use crate::diag::Diagnostic;

/// 1-based numbers of the lines whose indentation holds a tab.
pub fn tab_lines(source: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let indent = &l[..l.len() - l.trim_start().len()];
            let rest = l.trim_start();
            indent.contains('\t') && !rest.is_empty() && !rest.starts_with('#')
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The error for a file that does not parse because of tabs (YAML forbids
/// them in indentation), or `None` when there are none.
pub fn tab_error(name: &str, path: &Path, source: &str) -> Option<Diagnostic> {
    let lines = tab_lines(source);
    let first = *lines.first()?;
    let all: Vec<String> = lines.iter().map(usize::to_string).collect();
    Some(
        Diagnostic::error(
            name,
            format!(
                "a tab in the indentation (line{} {}): tabs are not allowed in YAML indentation; indent with spaces",
                if lines.len() == 1 { "" } else { "s" },
                all.join(", ")
            ),
        )
        .at(path, Some(first)),
    )
}

/// The first line (1-based) holding `needle`, from line `from` on.
pub fn line_of(source: &str, needle: &str, from: usize) -> Option<usize> {
    source
        .lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}

/// `{user: root, password:123456}`: without a space after the colon YAML
/// reads one key `password:123456` with no value, and the host silently
/// gets no password. Every such key in the document, as an error.
pub fn colon_keys(name: &str, path: &Path, source: &str, doc: &Yaml) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    collect_colon_keys(doc, &mut found);
    found
        .into_iter()
        .map(|key| {
            let (k, v) = key.split_once(':').unwrap_or((&key, ""));
            Diagnostic::error(
                name,
                format!("`{key}` is read as a key with no value: write `{k}: {v}` (a space after the colon)"),
            )
            .at(path, line_of(source, &key, 1))
        })
        .collect()
}

fn collect_colon_keys(v: &Yaml, out: &mut Vec<String>) {
    match v {
        Yaml::Mapping(m) => {
            for (k, v) in m {
                match (k, v) {
                    (Yaml::String(k), Yaml::Null) if is_key_colon_value(k) => out.push(k.clone()),
                    _ => collect_colon_keys(v, out),
                }
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|i| collect_colon_keys(i, out)),
        _ => {}
    }
}

/// `password:123456`, not `http://x` (a URL key is someone's intent).
fn is_key_colon_value(k: &str) -> bool {
    match k.split_once(':') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && !b.starts_with("//")
                && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// `10.xxx.xx.x`, `192.168.0.x`, `192.168.*.*`: an address masked before
/// posting a file, copied back as is.
pub fn looks_masked(addr: &str) -> bool {
    let parts: Vec<&str> = addr.trim().split('.').collect();
    let masked = |p: &&str| !p.is_empty() && p.chars().all(|c| matches!(c, 'x' | 'X' | '*'));
    let digits = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    parts.len() == 4 && parts.iter().any(masked) && parts.iter().all(|p| masked(p) || digits(p))
}

/// Where a key is found one level off from where it belongs.
#[derive(Debug, Clone, PartialEq)]
pub struct Misplaced {
    pub key: String,
    /// The key it was found under (`None`: at the top level).
    pub under: Option<String>,
}

/// Keys of `expected` (the children a mapping `parent` should have) found
/// one level too deep, under a sibling, instead of directly in `parent`.
pub fn too_deep(parent: &Mapping, expected: &[&str]) -> Vec<Misplaced> {
    let mut out = Vec::new();
    for (k, v) in parent {
        let (Some(outer), Some(inner)) = (k.as_str(), v.as_mapping()) else {
            continue;
        };
        for ik in inner.keys().filter_map(Yaml::as_str) {
            let here = parent.contains_key(Yaml::String(ik.to_string()));
            if expected.contains(&ik) && ik != outer && !here {
                out.push(Misplaced {
                    key: ik.to_string(),
                    under: Some(outer.to_string()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_in_indentation_only() {
        let t = "a:\n\tb: 1\nc: \"x\ty\"\n  \t# comment\n\t\n";
        assert_eq!(tab_lines(t), [2]);
        let d = tab_error("ConfigSyntax", Path::new("vars.yml"), t).unwrap();
        assert_eq!(
            d.to_string(),
            "[ERROR ConfigSyntax]: vars.yml:2: a tab in the indentation (line 2): tabs are not allowed in YAML indentation; indent with spaces"
        );
        assert!(tab_error("X", Path::new("f"), "a: 1\n").is_none());
    }

    #[test]
    fn a_key_with_a_colon_and_no_value() {
        let src = "spec:\n  hosts:\n  - {name: master1, address: 10.0.0.1, user: root, password:123456}\n";
        let doc: Yaml = serde_yaml::from_str(src).unwrap();
        let d = colon_keys("KubeKeyConfig", Path::new("c.yaml"), src, &doc);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "[ERROR KubeKeyConfig]: c.yaml:3: `password:123456` is read as a key with no value: write `password: 123456` (a space after the colon)"
        );
        let fine: Yaml = serde_yaml::from_str("a: {url: http://x, b: 1}\n").unwrap();
        assert!(colon_keys("X", Path::new("f"), "", &fine).is_empty());
    }

    #[test]
    fn masked_addresses() {
        for a in ["10.xxx.xx.x", "192.168.0.x", "192.168.*.*", "172.16.X.10"] {
            assert!(looks_masked(a), "{a}");
        }
        for a in ["10.0.0.1", "node1", "x.example.com", "fe80::1", ""] {
            assert!(!looks_masked(a), "{a}");
        }
    }

    #[test]
    fn keys_one_level_too_deep() {
        let doc: Yaml = serde_yaml::from_str(
            "kubernetes:\n  version: v1.28.2\n  etcd:\n    type: kubekey\nnetwork: {}\n",
        )
        .unwrap();
        let m = too_deep(
            doc.as_mapping().unwrap(),
            &["kubernetes", "etcd", "network"],
        );
        assert_eq!(
            m,
            [Misplaced {
                key: "etcd".into(),
                under: Some("kubernetes".into())
            }]
        );
    }
}
