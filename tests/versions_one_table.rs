//! One versions table: for every layout and supported Kubernetes minor, the
//! images the rendered manifests and configs run are images the bundle plan
//! carries (nothing an offline install would lack), and the plan carries no
//! image the cluster never runs.

mod render_support;

use std::collections::BTreeSet;

use ksinstall::bundle::needs::{self, Kind, PlanOptions};
use ksinstall::model::versions;
use render_support::*;

/// Images the renderer writes that the bundle plan does not carry: the
/// test pods' busybox (none is rendered today), listed so that anything
/// else fails.
fn known_gap(image: &str) -> bool {
    image.contains("busybox")
}

fn rendered_images(r: &ksinstall::render::Rendered, version: &str, repo: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let texts = r.manifests.iter().map(|m| m.content.as_str()).chain(
        r.hosts
            .iter()
            .flat_map(|h| h.files.iter().map(|f| f.content.as_str())),
    );
    for t in texts {
        for line in t.lines() {
            let l = line.trim().trim_start_matches("- ");
            let v = l
                .strip_prefix("image: ")
                .or_else(|| l.strip_prefix("sandbox_image = "))
                // OpenEBS's helper, run by the provisioner on a volume's node.
                .or_else(|| {
                    l.strip_prefix("value: ")
                        .filter(|v| v.contains("/linux-utils:"))
                })
                .map(|v| v.trim().trim_matches('"').to_string());
            if let Some(v) = v.filter(|v| !v.contains("{{")) {
                out.insert(v);
            }
        }
    }
    // kubeadm pulls these by name from the ClusterConfiguration, and the
    // kubelet its sandbox image (named in containerd's config, a default
    // with docker).
    let kv = ksinstall::config::KubeVersion::parse(version).unwrap();
    let img = versions::Images::of(&kv, repo, "");
    out.extend(img.control_plane.iter().cloned());
    out.insert(img.kube_proxy);
    out.insert(img.coredns);
    out.insert(img.pause);
    out
}

#[test]
fn rendered_images_are_the_bundle_plans_images() {
    let versions = [
        "v1.16.7", "v1.18.3", "v1.22.4", "v1.28.2", "v1.34.4", "v1.37.2",
    ];
    let mut checked = 0;
    for v in VARIANTS {
        for version in versions {
            // The seeds pin etcd 3.2, which kubeadm 1.34+ refuses.
            let etcd = if version >= "v1.34" {
                "\netcd_version: v3.6.8"
            } else {
                ""
            };
            let extra = format!("{}{etcd}", v.extra);
            let conf = conf_with(v.seed, &format!("{extra}\nkube_version: {version}\n"));
            let c = load_mode(&conf, v.mode);
            let variant = Variant {
                extra: Box::leak(extra.into_boxed_str()),
                ..*v
            };
            let r = render_variant(&variant, Some(version), None);
            let repo = c.config.kube_image_repo();
            let rendered: BTreeSet<String> = rendered_images(&r, version, &repo)
                .into_iter()
                .filter(|i| !known_gap(i) && !i.contains("ks-installer") && !i.contains("tiller"))
                .collect();
            let plan = needs::plan(&c, &PlanOptions::default()).unwrap();
            let planned: BTreeSet<String> = plan
                .needs
                .iter()
                .filter(|n| n.kind == Kind::Image)
                .map(|n| n.name.clone())
                .filter(|i| {
                    !i.contains("ks-installer")
                        && !i.contains("tiller")
                        && !i.contains("/registry:")
                })
                .collect();
            let missing: Vec<_> = rendered.difference(&planned).collect();
            let extra: Vec<_> = planned.difference(&rendered).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{} at {version}: rendered but not in the bundle plan: {missing:?}; planned but never run: {extra:?}",
                v.name
            );
            // Per host: a pod may land on any Kubernetes node, so each
            // carries every image but the control plane's, which only the
            // masters run (their static pods).
            let kv = ksinstall::config::KubeVersion::parse(version).unwrap();
            let control: BTreeSet<String> = versions::Images::of(&kv, &repo, "")
                .control_plane
                .into_iter()
                .collect();
            use ksinstall::model::Role;
            for n in (c.nodes.iter()).filter(|n| n.has(Role::Master) || n.has(Role::Worker)) {
                let on_host: BTreeSet<&String> = (plan.needs.iter())
                    .filter(|x| x.kind == Kind::Image && x.hosts.contains(&n.name))
                    .map(|x| &x.name)
                    .filter(|i| planned.contains(*i))
                    .collect();
                let want: BTreeSet<&String> = (rendered.iter())
                    .filter(|i| n.has(Role::Master) || !control.contains(*i))
                    .collect();
                assert_eq!(
                    on_host, want,
                    "{} at {version}: the images of {}",
                    v.name, n.name
                );
            }
            std::fs::remove_dir_all(&conf).ok();
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked}");
}

/// With a `[local-registry]` host, every image the nodes run (manifests,
/// the sandbox, kubeadm's images from its `imageRepository`) is named
/// after the registry, and is exactly what the install pushes there: the
/// bundle plan's images under their local names, all on the registry's
/// host and on no other.
#[test]
fn with_a_local_registry_every_image_is_pulled_from_it_as_pushed() {
    use ksinstall::model::registry::local_ref;
    let mut checked = 0;
    for name in [
        "ha",
        "storage",
        "internal-haproxy-flannel-containerd",
        "ks3",
    ] {
        let v = VARIANTS.iter().find(|v| v.name == name).unwrap();
        for version in ["v1.22.4", "v1.34.4"] {
            let etcd = if version >= "v1.34" {
                "\netcd_version: v3.6.8"
            } else {
                ""
            };
            let conf = conf_with(
                v.seed,
                &format!("{}{etcd}\nkube_version: {version}\n", v.extra),
            );
            let first = load_mode(&conf, v.mode)
                .first_master()
                .unwrap()
                .name
                .clone();
            let hosts = conf.join("hosts.ini");
            let inv = std::fs::read_to_string(&hosts).unwrap();
            std::fs::write(&hosts, format!("{inv}\n[local-registry]\n{first}\n")).unwrap();
            let c = load_mode(&conf, v.mode);
            let reg = c.local_registry().expect("a registry");
            let r = ksinstall::render::render_all(&c, &fixed_facts()).unwrap();
            let repo = local_ref(&reg.endpoint, &c.config.kube_image_repo());
            let rendered: BTreeSet<String> = rendered_images(&r, version, &repo)
                .into_iter()
                .filter(|i| !i.contains("tiller"))
                .collect();
            let plan = needs::plan(&c, &PlanOptions::default()).unwrap();
            let images: Vec<_> = (plan.needs.iter())
                .filter(|n| n.kind == Kind::Image)
                .collect();
            assert!(
                images.iter().all(|n| n.hosts == [reg.host.clone()]),
                "{name}: images go to the registry's host only"
            );
            let pushed: BTreeSet<String> = (images.iter())
                .map(|n| local_ref(&reg.endpoint, &n.name))
                .filter(|i| !i.contains("tiller"))
                .collect();
            assert!(
                rendered
                    .iter()
                    .all(|i| i.starts_with(&format!("{}/", reg.endpoint))),
                "{name} at {version}: an image not from the registry: {rendered:?}"
            );
            assert_eq!(rendered, pushed, "{name} at {version}: pulled vs pushed");
            std::fs::remove_dir_all(&conf).ok();
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

/// A CA certificate (PEM), as an operator's company CA would be.
fn company_ca() -> String {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "company CA").unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

/// With the company's registry (`local_registry`, which the install does
/// not run), every image the nodes run is named after it and is one of the
/// plan's images under that name (what `bundle push` puts there); no host
/// gets an image tarball; each runtime trusts the registry's CA (the
/// file from `local_registry_ca`, relative to the conf), or, with
/// `local_registry_insecure`, reaches it over plain HTTP.
#[test]
fn with_the_company_registry_every_image_is_pulled_from_it() {
    use ksinstall::model::registry::local_ref;
    const EP: &str = "registry.corp.example:5443";
    let ca = company_ca();
    let mut checked = 0;
    for (name, insecure) in [
        ("ha", false),
        ("internal-haproxy-flannel-containerd", false),
        ("internal-haproxy-flannel-containerd", true),
        ("ks3", true),
    ] {
        let v = VARIANTS.iter().find(|v| v.name == name).unwrap();
        let trust = match insecure {
            true => "local_registry_insecure: true\n",
            false => "local_registry_ca: company-ca.pem\n",
        };
        let extra = format!(
            "{}\netcd_version: v3.6.8\nkube_version: v1.34.4\nlocal_registry: {EP}\n{trust}",
            v.extra
        );
        let conf = conf_with(v.seed, &extra);
        std::fs::write(conf.join("company-ca.pem"), &ca).unwrap();
        let c = load_mode(&conf, v.mode);
        assert!(c.local_registry().is_none());
        let r = ksinstall::render::render_all(&c, &fixed_facts()).unwrap();
        let repo = local_ref(EP, &c.config.kube_image_repo());
        let rendered: BTreeSet<String> =
            rendered_images(&r, "v1.34.4", &repo).into_iter().collect();
        let plan = needs::plan(&c, &PlanOptions::default()).unwrap();
        let images: Vec<_> = (plan.needs.iter())
            .filter(|n| n.kind == Kind::Image)
            .collect();
        assert!(
            images.iter().all(|n| n.hosts.is_empty()),
            "{name}: no host gets an image tarball"
        );
        let pushed: BTreeSet<String> = images.iter().map(|n| local_ref(EP, &n.name)).collect();
        assert!(
            rendered.iter().all(|i| i.starts_with(&format!("{EP}/"))),
            "{name}: {rendered:?}"
        );
        assert!(
            rendered.is_subset(&pushed),
            "{name}: pulled {rendered:?}, pushed {pushed:?}"
        );
        let docker = c.config.runtime == ksinstall::config::Runtime::Docker;
        for h in r.hosts.iter().filter(|h| {
            h.files
                .iter()
                .any(|f| f.path.ends_with("kubelet/config.yaml") || f.path == "/etc/crictl.yaml")
        }) {
            let file = |p: &str| {
                h.files
                    .iter()
                    .find(|f| f.path == p)
                    .map(|f| f.content.clone())
            };
            let certs = match docker {
                true => "/etc/docker/certs.d",
                false => "/etc/containerd/certs.d",
            };
            let ca_path = format!("{certs}/{EP}/ca.crt");
            assert_eq!(
                file(&ca_path).is_some(),
                !insecure,
                "{name}: {} {ca_path}",
                h.host
            );
            if !insecure {
                assert_eq!(file(&ca_path).unwrap(), ca);
            }
            match docker {
                true => {
                    let daemon = file("/etc/docker/daemon.json").unwrap();
                    assert_eq!(daemon.contains(EP), insecure, "{name}: {daemon}");
                }
                false => {
                    let hosts = file(&format!("{certs}/{EP}/hosts.toml")).unwrap();
                    let scheme = if insecure { "http" } else { "https" };
                    assert!(
                        hosts.contains(&format!("server = \"{scheme}://{EP}\"")),
                        "{hosts}"
                    );
                    assert_eq!(
                        hosts.contains(&format!("ca = \"{ca_path}\"")),
                        !insecure,
                        "{hosts}"
                    );
                    assert!(!hosts.contains("skip_verify"), "{hosts}");
                }
            }
        }
        std::fs::remove_dir_all(&conf).ok();
        checked += 1;
    }
    assert_eq!(checked, 4);
}
