//! Debian packages as files: the control paragraph inside a `.deb`, Debian
//! control-file syntax, dependency fields and dpkg's version ordering.
//!
//! A `.deb` is an `ar` archive holding `debian-binary`, `control.tar[.gz|.xz|.zst]`
//! and `data.tar.*`; only the `./control` file of the control tarball is read.

use std::cmp::Ordering;
use std::io::{self, Read};
use std::path::Path;

/// One control paragraph, fields in the order they were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// Field value (case-insensitive name, as dpkg treats field names).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(f) => f.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// The paragraph as control-file text (no trailing blank line).
    /// Multi-line values keep their continuation lines as read.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            out.push_str(k);
            out.push(':');
            if !v.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(v);
            out.push('\n');
        }
        out
    }
}

/// Parses control-file text into paragraphs (blank lines separate them;
/// a line starting with space or tab continues the previous field).
pub fn parse_paragraphs(text: &str) -> Result<Vec<Paragraph>, String> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') && cur.fields.is_empty() {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match cur.fields.last_mut() {
                Some((_, v)) => {
                    v.push('\n');
                    v.push_str(line);
                }
                None => {
                    return Err(format!(
                        "line {}: continuation line before any field",
                        i + 1
                    ))
                }
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(format!(
                "line {}: expected `Field: value`, got {line:?}",
                i + 1
            ));
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("line {}: bad field name {k:?}", i + 1));
        }
        cur.fields.push((k.to_string(), v.trim().to_string()));
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// What the bundle needs to know of a package file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebInfo {
    pub control: Paragraph,
}

impl DebInfo {
    pub fn package(&self) -> &str {
        self.control.get("Package").unwrap_or("")
    }
    pub fn version(&self) -> &str {
        self.control.get("Version").unwrap_or("")
    }
    pub fn arch(&self) -> &str {
        self.control.get("Architecture").unwrap_or("")
    }
    /// `Pre-Depends` then `Depends`, parsed.
    pub fn depends(&self) -> Vec<Vec<Dep>> {
        let mut out = Vec::new();
        for f in ["Pre-Depends", "Depends"] {
            if let Some(v) = self.control.get(f) {
                out.extend(parse_depends(v));
            }
        }
        out
    }
    /// Names this package also satisfies (`Provides`).
    pub fn provides(&self) -> Vec<String> {
        self.control
            .get("Provides")
            .map(|v| {
                parse_depends(v)
                    .into_iter()
                    .flatten()
                    .map(|d| d.name)
                    .collect()
            })
            .unwrap_or_default()
    }
    /// The pool-style file name: `name_version-without-epoch_arch.deb`.
    pub fn file_name(&self) -> String {
        let v = self.version();
        let v = v.split_once(':').map(|(_, r)| r).unwrap_or(v);
        format!("{}_{}_{}.deb", self.package(), v, self.arch())
    }
}

/// Reads the control paragraph of a `.deb` file.
pub fn read_deb(path: &Path) -> Result<DebInfo, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_deb_from(io::BufReader::new(f)).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_deb_from<R: Read>(r: R) -> Result<DebInfo, String> {
    let mut ar = ar::Archive::new(r);
    let mut first = true;
    while let Some(entry) = ar.next_entry() {
        let mut entry = entry.map_err(|e| format!("not a Debian package (ar archive): {e}"))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if first {
            if name != "debian-binary" {
                return Err(format!(
                    "not a Debian package: first member is {name:?}, not debian-binary"
                ));
            }
            first = false;
            continue;
        }
        if !name.starts_with("control.tar") {
            continue;
        }
        let mut raw = Vec::new();
        entry
            .read_to_end(&mut raw)
            .map_err(|e| format!("reading {name}: {e}"))?;
        let tar_bytes = decompress(&name, &raw)?;
        let mut tar = tar::Archive::new(&tar_bytes[..]);
        let entries = tar.entries().map_err(|e| format!("{name}: {e}"))?;
        for te in entries {
            let mut te = te.map_err(|e| format!("{name}: {e}"))?;
            let p = te.path().map_err(|e| format!("{name}: {e}"))?;
            let p = p.to_string_lossy().trim_start_matches("./").to_string();
            if p == "control" {
                let mut text = String::new();
                te.read_to_string(&mut text)
                    .map_err(|e| format!("{name}/control: {e}"))?;
                let mut paras = parse_paragraphs(&text).map_err(|e| format!("control: {e}"))?;
                if paras.len() != 1 {
                    return Err(format!(
                        "control file has {} paragraphs, expected 1",
                        paras.len()
                    ));
                }
                let control = paras.remove(0);
                for f in ["Package", "Version", "Architecture"] {
                    if control.get(f).is_none_or(str::is_empty) {
                        return Err(format!("control file has no {f} field"));
                    }
                }
                return Ok(DebInfo { control });
            }
        }
        return Err(format!("{name} has no ./control file"));
    }
    if first {
        return Err("not a Debian package: empty or not an ar archive".into());
    }
    Err("no control.tar member".into())
}

fn decompress(name: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let res = match name {
        "control.tar" => {
            out.extend_from_slice(raw);
            Ok(())
        }
        "control.tar.gz" => flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .map(|_| ()),
        "control.tar.xz" => lzma_rs::xz_decompress(&mut io::BufReader::new(raw), &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}"))),
        "control.tar.zst" => match ruzstd::decoding::StreamingDecoder::new(raw) {
            Ok(mut d) => d.read_to_end(&mut out).map(|_| ()),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        },
        other => return Err(format!("unknown control member compression: {other}")),
    };
    res.map_err(|e| format!("decompressing {name}: {e}"))?;
    Ok(out)
}

/// One alternative of a dependency: `name [:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub constraint: Option<(String, String)>,
}

impl Dep {
    pub fn satisfied_by(&self, version: &str) -> bool {
        match &self.constraint {
            None => true,
            Some((op, want)) => {
                let o = compare_versions(version, want);
                match op.as_str() {
                    "<<" | "<" => o == Ordering::Less,
                    "<=" => o != Ordering::Greater,
                    "=" => o == Ordering::Equal,
                    ">=" => o != Ordering::Less,
                    ">>" | ">" => o == Ordering::Greater,
                    _ => true,
                }
            }
        }
    }
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.constraint {
            Some((op, v)) => write!(f, "{} ({op} {v})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// `Depends`-style field: comma-separated groups of `|`-separated alternatives.
pub fn parse_depends(field: &str) -> Vec<Vec<Dep>> {
    field
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let alt = alt.trim();
                    // Drop architecture restrictions `[...]` and build profiles `<...>`.
                    let alt = alt.split(['[', '<']).next().unwrap_or(alt).trim();
                    let (name, rest) = match alt.find('(') {
                        Some(i) => (alt[..i].trim(), Some(&alt[i + 1..])),
                        None => (alt, None),
                    };
                    let name = name.split(':').next().unwrap_or(name).trim();
                    if name.is_empty() {
                        return None;
                    }
                    let constraint = rest.and_then(|r| {
                        let r = r.trim_end().trim_end_matches(')').trim();
                        let op_len = r
                            .chars()
                            .take_while(|c| matches!(c, '<' | '>' | '='))
                            .count();
                        let (op, v) = r.split_at(op_len);
                        let v = v.trim();
                        (!v.is_empty()).then(|| (op.to_string(), v.to_string()))
                    });
                    Some(Dep {
                        name: name.to_string(),
                        constraint,
                    })
                })
                .collect::<Vec<_>>()
        })
        .filter(|g: &Vec<Dep>| !g.is_empty())
        .collect()
}

/// dpkg's version ordering (`epoch:upstream-revision`, `~` sorts first).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rfind('-') {
            Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_version_order() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1:0.9", "2.0", Greater),
            ("1.4.7-1+b2", "1.4.7-1", Greater),
            ("1.10", "1.9", Greater),
            ("1.0-1", "1.0-1ubuntu1", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.0a", "1.0", Greater),
            ("1.0.", "1.0", Greater),
            ("0", "00", Equal),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn depends_fields() {
        let d = parse_depends(
            "libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1, python3:any, foo [amd64] <!nocheck>",
        );
        assert_eq!(d.len(), 4);
        assert_eq!(d[0][0].to_string(), "libc6 (>= 2.34)");
        assert_eq!(d[1].len(), 2);
        assert_eq!(d[2][0].name, "python3");
        assert_eq!(d[3][0].name, "foo");
        assert!(d[0][0].satisfied_by("2.36-9+deb12u4"));
        assert!(!d[0][0].satisfied_by("2.31-13"));
    }

    #[test]
    fn paragraphs_keep_continuations() {
        let p = parse_paragraphs(
            "Package: a\nDescription: short\n long line\n .\n more\n\nPackage: b\n",
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].get("description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(parse_paragraphs(&p[0].render()).unwrap()[0], p[0]);
    }
}
