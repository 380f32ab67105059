//! The real kubeadm as the oracle: every rendered init and join
//! configuration of every layout, rendered at every served minor, passes
//! `kubeadm config validate` of that version built from its Go modules
//! (`scripts/kube/build.sh`; v1.34.4 and the `ORACLE_VERSIONS` of
//! scripts/kube/versions.sh, under `/var/cache/ksinstall/kube-out/V`).
//! Without a build it says so and passes; under `CI` it fails.

mod render_support;

use std::path::Path;
use std::process::Command;

use render_support::*;

#[test]
fn kubeadm_accepts_every_rendered_config() {
    let mut done = Vec::new();
    for version in oracle_versions() {
        if let Some(out) = kube_build_at(&version, &["bin/kubeadm"]) {
            let n = validate_at(&version, &out.join("bin/kubeadm"));
            done.push(format!("{version}: {n}"));
        }
    }
    eprintln!("kubeadm config validate, rendered configs accepted: {done:?}");
}

/// Every init and join config of every layout rendered at `version`,
/// through that version's kubeadm: the number checked.
fn validate_at(version: &str, kubeadm: &Path) -> usize {
    let dir = scratch(&format!("kubeadm-validate-{version}"));
    let mut checked = 0;
    for v in VARIANTS {
        let extra = format!("{}\netcd_version: v3.6.8", v.extra);
        let variant = Variant {
            extra: Box::leak(extra.into_boxed_str()),
            ..*v
        };
        let r = render_variant(&variant, Some(version), None);
        for h in &r.hosts {
            for f in h.files.iter().filter(|f| {
                f.path.contains("/kubeadm-config") || f.path.ends_with("/kubeadm-client.conf")
            }) {
                let file = dir.join(format!("{}-{}.yaml", v.name, h.host));
                std::fs::write(&file, &f.content).unwrap();
                let o = Command::new(kubeadm)
                    .args(["config", "validate", "--config"])
                    .arg(&file)
                    .output()
                    .expect("run kubeadm");
                assert!(
                    o.status.success(),
                    "kubeadm {version} config validate refuses {} of {} ({}):\n{}{}\n{}",
                    f.path,
                    h.host,
                    v.name,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr),
                    f.content
                );
                checked += 1;
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(checked >= 20, "only {checked} configs checked at {version}");
    checked
}
