//! The real kubeadm as the oracle: every rendered init and join
//! configuration of every layout passes `kubeadm config validate` of the
//! Kubernetes version built from its Go modules (`scripts/kube/build.sh`,
//! `KUBE_OUT`, default `/var/cache/ksinstall/kube-out/v1.34.4`). Without that
//! build it says so and passes; under `CI` it fails.

mod render_support;

use std::process::Command;

use render_support::*;

#[test]
fn kubeadm_accepts_every_rendered_config() {
    let Some(out) = kube_build(&["bin/kubeadm"]) else {
        return;
    };
    let kubeadm = out.join("bin/kubeadm");
    let dir = scratch("kubeadm-validate");
    let mut checked = 0;
    for v in VARIANTS {
        let extra = format!("{}\netcd_version: v3.6.8", v.extra);
        let variant = Variant {
            extra: Box::leak(extra.into_boxed_str()),
            ..*v
        };
        let r = render_variant(&variant, Some(KUBE_VERSION), None);
        for h in &r.hosts {
            for f in h.files.iter().filter(|f| {
                f.path.contains("/kubeadm-config") || f.path.ends_with("/kubeadm-client.conf")
            }) {
                let file = dir.join(format!("{}-{}.yaml", v.name, h.host));
                std::fs::write(&file, &f.content).unwrap();
                let o = Command::new(&kubeadm)
                    .args(["config", "validate", "--config"])
                    .arg(&file)
                    .output()
                    .expect("run kubeadm");
                assert!(
                    o.status.success(),
                    "kubeadm config validate refuses {} of {} ({}):\n{}{}\n{}",
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
    assert!(checked >= 20, "only {checked} configs checked");
    eprintln!("kubeadm {KUBE_VERSION} config validate: {checked} rendered configs accepted");
}
