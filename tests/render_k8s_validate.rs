//! Every rendered Kubernetes object (cluster manifests and static pods),
//! for every variant at every version of `VERSIONS` (each distinct object
//! once per version), validated with
//! `kubernetes-validate --strict` at that version: unknown fields fail.
//! kubernetes-validate's current release has schemas for 1.25+, release
//! 1.24.1 for 1.10–1.24; .ci/run installs them in .venv-k8s-new and
//! .venv-k8s-old.

mod render_support;

use std::process::Command;

use render_support::*;

/// Kinds without a schema in kubernetes-validate (custom resources).
const CUSTOM_KINDS: &[&str] =
    &["ClusterConfiguration with api version installer.kubesphere.io/v1alpha1"];

fn minor(v: &str) -> u32 {
    v.trim_start_matches('v')
        .split('.')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn manifests_validate_strictly_at_their_version() {
    let new = repo().join(".venv-k8s-new/bin/kubernetes-validate");
    let old = repo().join(".venv-k8s-old/bin/kubernetes-validate");
    let have_new = required_path(&new, "kubernetes-validate (current release)");
    let have_old = required_path(&old, "kubernetes-validate 1.24.1");
    let root = scratch("k8s-validate");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut running = Vec::new();
    for version in VERSIONS {
        let m = minor(version);
        let bin = if m <= 24 {
            (&old, have_old)
        } else {
            (&new, have_new)
        };
        let dir = root.join(version);
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        // Each distinct object once (most are the same across variants),
        // in a file named after the first variant and manifest that has it.
        let mut seen = std::collections::BTreeSet::new();
        let mut add = |origin: String, text: &str| {
            for (i, doc) in docs(text).into_iter().enumerate() {
                let canon = serde_yaml::to_string(&doc).unwrap();
                if seen.insert(canon.clone()) {
                    let p = dir.join(format!("{origin}--{i}.yaml"));
                    std::fs::write(&p, canon).unwrap();
                    files.push(p);
                }
            }
        };
        for v in VARIANTS {
            let r = render_variant(v, Some(version), None);
            for mf in &r.manifests {
                add(format!("{}--{}", v.name, mf.name), &mf.content);
            }
            for h in &r.hosts {
                for f in h
                    .files
                    .iter()
                    .filter(|f| f.path.starts_with("/etc/kubernetes/manifests/"))
                {
                    add(
                        format!(
                            "{}--{}--{}",
                            v.name,
                            h.host,
                            f.path.rsplit('/').next().unwrap()
                        ),
                        &f.content,
                    );
                }
            }
        }
        if !bin.1 {
            continue;
        }
        // All versions validate at once (one process each).
        let child = Command::new(bin.0)
            .arg("--strict")
            .arg("--kubernetes-version")
            .arg(format!("1.{m}.0"))
            .args(&files)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run kubernetes-validate");
        running.push((version, child));
    }
    for (version, child) in running {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        for line in text.lines() {
            let bad = line.starts_with("ERROR")
                || (line.starts_with("WARN") && !CUSTOM_KINDS.iter().any(|k| line.contains(k)));
            if bad {
                failures.push(format!("{version}: {line}"));
            }
            if line.starts_with("INFO") && line.contains(" passed ") {
                checked += 1;
            }
        }
        if !out.status.success() && failures.is_empty() {
            failures.push(format!(
                "{version}: kubernetes-validate exited {}:\n{text}",
                out.status
            ));
        }
    }
    if have_new || have_old {
        assert!(
            failures.is_empty(),
            "{} problems:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert!(checked > 400, "only {checked} objects were validated");
        eprintln!("{checked} objects validated");
    }
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn kubernetes_validate_rejects_unknown_fields() {
    // The tool is live in both venvs: an unknown field fails strict validation.
    let dir = scratch("k8s-validate-bad");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\nbogusField: 1\n",
    )
    .unwrap();
    for (venv, version) in [(".venv-k8s-old", "1.12.0"), (".venv-k8s-new", "1.28.0")] {
        let bin = repo().join(venv).join("bin/kubernetes-validate");
        if !required_path(&bin, venv) {
            continue;
        }
        let out = Command::new(&bin)
            .args(["--strict", "--kubernetes-version", version])
            .arg(&bad)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success() && text.contains("bogusField"),
            "{venv}: {text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
