//! A flat apt repository (`deb [trusted=yes] file:/DIR ./`): the `.deb`
//! files, `Packages`, `Packages.gz` and a `Release` listing their digests.
//!
//! The index is written here, in Rust, from each package's own control
//! paragraph (see `deb.rs`) rather than by `dpkg-scanpackages` or
//! `apt-ftparchive`: the bundle can then be built on any machine (also one
//! without dpkg-dev), the output is byte-for-byte reproducible, and the same
//! code writes the per-host subsets and checks a bundle's index. The tests
//! cross-check the result with `dpkg-scanpackages` and with apt itself.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use super::deb::{self, DebInfo, Paragraph};
use super::hash::{self, Sums};

pub const PACKAGES: &str = "Packages";
pub const PACKAGES_GZ: &str = "Packages.gz";
pub const RELEASE: &str = "Release";
pub const INDEX_FILES: [&str; 3] = [PACKAGES, PACKAGES_GZ, RELEASE];

/// The `Packages` paragraph for one package file: its control fields, then
/// where the file is and its digests (the fields dpkg-scanpackages adds),
/// `Description` kept last as apt-ftparchive does.
pub fn stanza(info: &DebInfo, file_name: &str, sums: &Sums) -> Paragraph {
    let mut p = info.control.clone();
    let description = p.get("Description").map(str::to_string);
    p.remove("Description");
    for f in ["Filename", "Size", "MD5sum", "SHA1", "SHA256"] {
        p.remove(f);
    }
    p.set("Filename", format!("./{file_name}"));
    p.set("Size", sums.size.to_string());
    p.set("MD5sum", &sums.md5);
    p.set("SHA1", &sums.sha1);
    p.set("SHA256", &sums.sha256);
    if let Some(d) = description {
        p.set("Description", d);
    }
    p
}

/// Writes `Packages`, `Packages.gz` and `Release` in `dir` for the given
/// paragraphs (sorted by package name, then version).
pub fn write_index(dir: &Path, stanzas: &[Paragraph], date_epoch: u64) -> std::io::Result<()> {
    for (name, data) in index_files(stanzas, date_epoch) {
        std::fs::write(dir.join(name), data)?;
    }
    Ok(())
}

/// `Packages`, `Packages.gz` and `Release` for the given paragraphs, in memory.
pub fn index_files(stanzas: &[Paragraph], date_epoch: u64) -> Vec<(String, Vec<u8>)> {
    let mut sorted: Vec<&Paragraph> = stanzas.iter().collect();
    sorted.sort_by(|a, b| {
        let name = |p: &Paragraph| p.get("Package").unwrap_or("").to_string();
        name(a)
            .cmp(&name(b))
            .then_with(|| {
                deb::compare_versions(
                    a.get("Version").unwrap_or(""),
                    b.get("Version").unwrap_or(""),
                )
            })
            .then_with(|| a.get("Architecture").cmp(&b.get("Architecture")))
    });
    let text: String = sorted.iter().map(|p| p.render() + "\n").collect();
    let gz = gzip(text.as_bytes());

    let archs: BTreeSet<&str> = sorted
        .iter()
        .filter_map(|p| p.get("Architecture"))
        .collect();
    let sums = |b: &[u8]| hash::sums_of(b).expect("reading memory");
    let files = [(PACKAGES, sums(text.as_bytes())), (PACKAGES_GZ, sums(&gz))];
    let mut rel = String::new();
    rel.push_str("Origin: ksinstall\nLabel: ksinstall offline bundle\n");
    rel.push_str(&format!(
        "Architectures: {}\n",
        archs.into_iter().collect::<Vec<_>>().join(" ")
    ));
    rel.push_str(&format!("Date: {}\n", rfc2822(date_epoch)));
    for (field, pick) in [
        ("MD5Sum", (|s: &Sums| s.md5.clone()) as fn(&Sums) -> String),
        ("SHA1", |s: &Sums| s.sha1.clone()),
        ("SHA256", |s: &Sums| s.sha256.clone()),
    ] {
        rel.push_str(field);
        rel.push_str(":\n");
        for (name, s) in &files {
            rel.push_str(&format!(" {} {:>16} {}\n", pick(s), s.size, name));
        }
    }
    vec![
        (PACKAGES.to_string(), text.into_bytes()),
        (PACKAGES_GZ.to_string(), gz),
        (RELEASE.to_string(), rel.into_bytes()),
    ]
}

fn gzip(data: &[u8]) -> Vec<u8> {
    // mtime 0 and no file name: the same index gives the same bytes.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// `Sat, 23 Nov 2024 13:47:00 GMT` (the form apt reads in a Release file's
/// `Date:`) for seconds since the epoch.
pub fn rfc2822(epoch: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch))
}

/// Reads `dir/Packages`.
pub fn read_packages(dir: &Path) -> Result<Vec<Paragraph>, String> {
    let p = dir.join(PACKAGES);
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    deb::parse_paragraphs(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Every way the index in `dir` disagrees with the package files beside it,
/// as messages naming the file. Empty when consistent.
pub fn check_index(dir: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    let stanzas = match read_packages(dir) {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut listed = BTreeSet::new();
    for p in &stanzas {
        let name = p.get("Package").unwrap_or("?");
        let Some(file) = p.get("Filename") else {
            errs.push(format!("Packages: {name} has no Filename"));
            continue;
        };
        let rel = file.trim_start_matches("./");
        listed.insert(rel.to_string());
        let path = dir.join(rel);
        let sums = match hash::file_sums(&path) {
            Ok(s) => s,
            Err(e) => {
                errs.push(format!(
                    "Packages lists {file} ({name}) but it cannot be read: {e}"
                ));
                continue;
            }
        };
        if p.get("Size") != Some(sums.size.to_string().as_str()) {
            errs.push(format!(
                "Packages: {file} Size {} but the file has {} bytes",
                p.get("Size").unwrap_or("(none)"),
                sums.size
            ));
        }
        for (field, have) in [
            ("SHA256", &sums.sha256),
            ("MD5sum", &sums.md5),
            ("SHA1", &sums.sha1),
        ] {
            match p.get(field) {
                Some(v) if v.eq_ignore_ascii_case(have) => {}
                Some(v) => errs.push(format!(
                    "Packages: {file} {field} {v} but the file's is {have}"
                )),
                None if field == "SHA256" => errs.push(format!("Packages: {file} has no SHA256")),
                None => {}
            }
        }
        match deb::read_deb(&path) {
            Ok(info) => {
                for f in ["Package", "Version", "Architecture"] {
                    if info.control.get(f) != p.get(f) {
                        errs.push(format!(
                            "Packages: {file} {f} {:?} but the package says {:?}",
                            p.get(f).unwrap_or(""),
                            info.control.get(f).unwrap_or("")
                        ));
                    }
                }
            }
            Err(e) => errs.push(format!("Packages lists {file}: {e}")),
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut unlisted: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".deb") && !listed.contains(n))
            .collect();
        unlisted.sort();
        for n in unlisted {
            errs.push(format!("{n} is not in Packages: apt cannot install it"));
        }
    }
    let plain = std::fs::read(dir.join(PACKAGES)).unwrap_or_default();
    let mut unz = Vec::new();
    match std::fs::File::open(dir.join(PACKAGES_GZ)) {
        Ok(f) => {
            if let Err(e) = flate2::read::GzDecoder::new(f).read_to_end(&mut unz) {
                errs.push(format!("Packages.gz: {e}"));
            } else if unz != plain {
                errs.push("Packages.gz does not hold the same text as Packages".into());
            }
        }
        Err(e) => errs.push(format!("Packages.gz: {e}")),
    }
    errs.extend(check_release(dir));
    errs
}

fn check_release(dir: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(dir.join(RELEASE)) {
        Ok(t) => t,
        Err(e) => return vec![format!("Release: {e}")],
    };
    let paras = match deb::parse_paragraphs(&text) {
        Ok(p) if p.len() == 1 => p,
        Ok(_) => return vec!["Release: expected one paragraph".into()],
        Err(e) => return vec![format!("Release: {e}")],
    };
    let mut errs = Vec::new();
    let Some(list) = paras[0].get("SHA256") else {
        return vec!["Release has no SHA256 list".into()];
    };
    let mut seen = BTreeMap::new();
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 3 {
            errs.push(format!("Release: bad SHA256 line {line:?}"));
            continue;
        }
        seen.insert(w[2].to_string(), ());
        match hash::file_sha256(&dir.join(w[2])) {
            Ok((sum, size)) if sum == w[0] && size.to_string() == w[1] => {}
            Ok(_) => errs.push(format!(
                "Release: {} digest or size does not match the file",
                w[2]
            )),
            Err(e) => errs.push(format!("Release lists {}: {e}", w[2])),
        }
    }
    for f in [PACKAGES, PACKAGES_GZ] {
        if !seen.contains_key(f) {
            errs.push(format!("Release does not list {f}"));
        }
    }
    errs
}

/// Writes the index for just the packages whose file names are in `keep`,
/// from the full bundle index in `src_dir`, into `dest_dir`.
pub fn write_subset_index(
    src_dir: &Path,
    keep: &BTreeSet<String>,
    dest_dir: &Path,
    date_epoch: u64,
) -> Result<(), String> {
    let stanzas: Vec<Paragraph> = read_packages(src_dir)?
        .into_iter()
        .filter(|p| {
            p.get("Filename")
                .map(|f| keep.contains(f.trim_start_matches("./")))
                .unwrap_or(false)
        })
        .collect();
    write_index(dest_dir, &stanzas, date_epoch).map_err(|e| format!("{}: {e}", dest_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc2822(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
