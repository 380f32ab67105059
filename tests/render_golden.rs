//! Golden files: everything rendered for the seed layouts, compared byte for
//! byte with tests/golden/<seed>/. Certificates are random, so only their
//! paths and modes are kept (in INDEX). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test render_golden`, then read the diff.

mod render_support;

use std::collections::BTreeMap;
use std::path::Path;

use ksinstall::render::{Merge, Rendered};
use render_support::*;

fn expected(r: &Rendered) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut index = String::new();
    for h in &r.hosts {
        for f in &h.files {
            let rel = format!("{}{}", h.host, f.path);
            let source = match (&f.template, &f.merge) {
                (Some(t), Merge::Replace | Merge::Into) => t.clone(),
                (Some(t), Merge::Block { begin, .. }) => format!("{t} (block after {begin:?})"),
                (None, _) => "certificate (content not kept)".into(),
            };
            index.push_str(&format!("{rel} {:04o} {source}\n", f.mode));
            if f.template.is_some() {
                out.insert(rel, f.content.clone());
            }
        }
    }
    for m in &r.manifests {
        let rel = format!("cluster/{}", m.name);
        index.push_str(&format!("{rel} 0644 {}\n", m.template));
        out.insert(rel, m.content.clone());
    }
    for n in &r.notes {
        index.push_str(&format!("note: {n}\n"));
    }
    out.insert("INDEX".into(), index);
    out
}

fn read_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

fn check(seed: &str) {
    let r = render_seed(seed, "");
    let want = expected(&r);
    let dir = repo().join("tests/golden").join(seed);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        for (rel, content) in &want {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        eprintln!("updated {}", dir.display());
        return;
    }
    let have = read_tree(&dir);
    let mut problems = Vec::new();
    for rel in want.keys().filter(|k| !have.contains_key(*k)) {
        problems.push(format!("new file {rel} (not in golden)"));
    }
    for rel in have.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!("golden file {rel} is no longer rendered"));
    }
    for (rel, content) in &want {
        if let Some(old) = have.get(rel) {
            if old != content {
                let line = old
                    .lines()
                    .zip(content.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(content.lines().count()));
                problems.push(format!(
                    "{rel}: differs from line {}:\n  golden:   {:?}\n  rendered: {:?}",
                    line + 1,
                    old.lines().nth(line).unwrap_or("<end>"),
                    content.lines().nth(line).unwrap_or("<end>")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{seed}: rendered files differ from tests/golden/{seed} (UPDATE_GOLDEN=1 to accept):\n{}",
        problems.join("\n")
    );
}

#[test]
fn seed_root() {
    check("seed-root");
}

#[test]
fn seed_nonroot() {
    check("seed-nonroot");
}

#[test]
fn seed_ha() {
    check("seed-ha");
}
