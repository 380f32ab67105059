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

/// kubeadm names the images it pulls itself (`kubeadm config images
/// list`): under the default registry and a custom one (a mirror such as
/// the KubeSphere users' `kube_image_repo`), every one of them is an image
/// the bundle plan carries, so an offline install lacks none.
#[test]
fn kubeadm_wants_only_images_the_bundle_carries() {
    use ksinstall::bundle::needs::{self, Kind, PlanOptions};
    let mut done = Vec::new();
    for version in oracle_versions() {
        let Some(out) = kube_build_at(&version, &["bin/kubeadm"]) else {
            continue;
        };
        let dir = scratch(&format!("kubeadm-images-{version}"));
        for repo in ["", "\nkube_image_repo: registry.example.com/kubesphereio"] {
            let extra = format!("etcd_version: v3.6.8{repo}");
            let v = Variant {
                name: "images",
                seed: "seed-root",
                extra: Box::leak(extra.clone().into_boxed_str()),
                mode: ksinstall::model::Mode::MultiNode,
            };
            let r = render_variant(&v, Some(&version), None);
            let init = r
                .hosts
                .iter()
                .flat_map(|h| h.files.iter())
                .find(|f| {
                    f.path.contains("/kubeadm-config") && f.content.contains("InitConfiguration")
                })
                .expect("an init config");
            let file = dir.join("init.yaml");
            std::fs::write(&file, &init.content).unwrap();
            let o = Command::new(out.join("bin/kubeadm"))
                .args(["config", "images", "list", "--config"])
                .arg(&file)
                .output()
                .expect("run kubeadm");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let wanted: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            let conf = conf_with("seed-root", &format!("{extra}\nkube_version: {version}\n"));
            let c = load(&conf);
            let plan = needs::plan(&c, &PlanOptions::default()).unwrap();
            let planned: Vec<&str> = plan
                .needs
                .iter()
                .filter(|n| n.kind == Kind::Image)
                .map(|n| n.name.as_str())
                .collect();
            let lacking: Vec<&String> = wanted
                .iter()
                .filter(|w| !planned.contains(&w.as_str()))
                .collect();
            assert!(
                wanted.len() >= 5 && lacking.is_empty(),
                "kubeadm {version}{repo} wants {lacking:?}, which the bundle plan lacks ({planned:?})"
            );
            std::fs::remove_dir_all(&conf).ok();
        }
        std::fs::remove_dir_all(&dir).ok();
        done.push(version);
    }
    eprintln!("kubeadm config images list, all in the bundle plan: {done:?}");
}
