//! `bundle build --download` against a real HTTP server on 127.0.0.1 that
//! the test starts and stops: good downloads with published checksums, a
//! checksum mismatch, a 404, and a missing checksum file.

mod bundle_support;

use std::path::Path;

use bundle_support::*;
use ksinstall::bundle::fetch::Http;
use ksinstall::bundle::manifest::Manifest;
use ksinstall::bundle::{Kind, Plan};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Routes serving every binary of `plan` (as the mirror at `base` names
/// them), each with its `.sha256` file when the table has one.
fn routes_for(plan: &Plan, base: &str) -> Routes {
    let mut r = Routes::new();
    for n in plan.needs.iter().filter(|n| n.kind == Kind::Binary) {
        let body = if n.file_name().ends_with("gz") {
            gz_bytes(&n.name)
        } else {
            elf_bytes(&n.name)
        };
        let path = n
            .url
            .as_ref()
            .unwrap()
            .strip_prefix(base)
            .unwrap()
            .to_string();
        if let Some(sha) = &n.sha256_url {
            let sp = sha.strip_prefix(base).unwrap().to_string();
            r.insert(
                sp,
                (
                    200,
                    format!("{}  {}\n", sha256_hex(&body), n.file_name()).into_bytes(),
                ),
            );
        }
        r.insert(path, (200, body));
    }
    r
}

/// The plan as the CLI computes it with `--mirror all=<base>`.
fn plan_with_mirror(conf: &Path, base: &str) -> Plan {
    let mut opts = ksinstall::bundle::PlanOptions::default();
    opts.mirrors.insert("all".into(), base.into());
    ksinstall::bundle::plan(&cluster(conf), &opts).unwrap()
}

#[test]
fn downloads_binaries_and_checks_their_published_sha256() {
    let conf = fixture("seed-root");
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let plan0 = plan_of(&conf);
    populate(&from, &plan0, &[Kind::Deb, Kind::Image]);

    // Routes are the same whatever the port: build them from a placeholder base.
    let placeholder = "http://mirror.invalid";
    let plan = plan_with_mirror(&conf, placeholder);
    let mut routes = routes_for(&plan, placeholder);
    // calicoctl has no published checksum in the table; serve it anyway.
    assert!(plan
        .needs
        .iter()
        .any(|n| n.name == "calicoctl" && n.sha256_url.is_none()));
    let helm_sha = plan
        .needs
        .iter()
        .find(|n| n.name == "helm")
        .unwrap()
        .sha256_url
        .clone()
        .unwrap();
    routes.remove(helm_sha.strip_prefix(placeholder).unwrap());
    let server = Server::start(routes);
    let base = server.base();

    let out = tmp.path().join("bundle");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&conf),
        "-o",
        s(&out),
        "--from",
        s(&from),
        "--download",
        "--mirror",
        &format!("all={base}"),
        "--insecure-mirror", // the test server speaks plain HTTP on loopback
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let m = Manifest::read(&out).unwrap();
    let kubeadm = m.find(Kind::Binary, "kubeadm", "v1.12.3").unwrap();
    assert_eq!(
        kubeadm.source,
        format!("{base}/release/v1.12.3/bin/linux/amd64/kubeadm")
    );
    assert_eq!(kubeadm.sha256, sha256_hex(&elf_bytes("kubeadm")));
    assert!(out.join("bin/crictl-v1.12.0-linux-amd64.tar.gz").is_file());
    // Unchecked downloads are said so, in the output and in the manifest.
    assert!(
        stderr.contains("helm-v2.16.3-linux-amd64.tar.gz: no published checksum"),
        "{stderr}"
    );
    assert!(
        stderr.contains("calicoctl-linux-amd64: upstream publishes no checksum"),
        "{stderr}"
    );
    assert_eq!(
        m.notes.iter().filter(|n| n.contains("not checked")).count(),
        2,
        "{:?}",
        m.notes
    );
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.contains(&"/release/v1.12.3/bin/linux/amd64/kubelet.sha256".to_string()),
        "{log:?}"
    );
    assert!(server.hits.load(std::sync::atomic::Ordering::SeqCst) >= 13);

    let o = ksinstall(&["bundle", "verify", s(&out), "--conf", s(&conf)]);
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn mismatch_and_404_are_reported_together_and_leave_nothing_behind() {
    let conf = fixture("seed-root");
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    populate(&from, &plan_of(&conf), &[Kind::Deb, Kind::Image]);
    let placeholder = "http://mirror.invalid";
    let plan = plan_with_mirror(&conf, placeholder);
    let mut routes = routes_for(&plan, placeholder);
    let need = |name: &str| plan.needs.iter().find(|n| n.name == name).unwrap().clone();
    // kubelet: the checksum file disagrees with the file.
    let kubelet = need("kubelet");
    routes.insert(
        kubelet
            .sha256_url
            .as_ref()
            .unwrap()
            .strip_prefix(placeholder)
            .unwrap()
            .to_string(),
        (200, format!("{}\n", "ab".repeat(32)).into_bytes()),
    );
    // helm: the file is not there.
    let helm = need("helm");
    routes.remove(
        helm.url
            .as_ref()
            .unwrap()
            .strip_prefix(placeholder)
            .unwrap(),
    );
    // cni plugins: the server fails.
    let cni = need("cni-plugins");
    routes.insert(
        cni.url
            .as_ref()
            .unwrap()
            .strip_prefix(placeholder)
            .unwrap()
            .to_string(),
        (500, b"boom".to_vec()),
    );
    let server = Server::start(routes);
    let base = server.base();

    let out = tmp.path().join("bundle");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&conf),
        "-o",
        s(&out),
        "--from",
        s(&from),
        "--download",
        "--mirror",
        &format!("all={base}"),
        "--insecure-mirror", // the test server speaks plain HTTP on loopback
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let dl = errors(&stderr, "BundleDownload");
    assert_eq!(dl.len(), 3, "{stderr}");
    assert!(stderr.contains(&format!(
        "[ERROR BundleDownload]: kubelet v1.12.3: sha256 mismatch for {base}/release/v1.12.3/bin/linux/amd64/kubelet: downloaded {} ({} bytes), {base}/release/v1.12.3/bin/linux/amd64/kubelet.sha256 publishes {}",
        sha256_hex(&elf_bytes("kubelet")),
        elf_bytes("kubelet").len(),
        "ab".repeat(32)
    )), "{stderr}");
    assert!(stderr.contains(&format!(
        "[ERROR BundleDownload]: helm v2.16.3: GET {base}/helm-v2.16.3-linux-amd64.tar.gz: HTTP 404 Not Found"
    )), "{stderr}");
    assert!(
        stderr.contains("cni-plugins v0.8.3: GET") && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    assert!(!out.exists());
    // The good downloads are kept for the next run; the bad ones are not.
    let partial = tmp.path().join("bundle.partial");
    assert!(partial.join("bin/kubeadm").is_file());
    assert!(!partial.join("bin/kubelet").exists() && !partial.join("bin/kubelet.part").exists());
    drop(server);

    // Next run, mirror fixed: what was downloaded is not fetched again.
    let mut routes = routes_for(&plan, placeholder);
    routes.remove(
        need("kubeadm")
            .url
            .as_ref()
            .unwrap()
            .strip_prefix(placeholder)
            .unwrap(),
    );
    let server = Server::start(routes);
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&conf),
        "-o",
        s(&out),
        "--from",
        s(&from),
        "--download",
        "--mirror",
        &format!("all={}", server.base()),
        "--insecure-mirror", // the test server speaks plain HTTP on loopback
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(!server
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.ends_with("/kubeadm")));
    assert!(!partial.exists());
}

#[test]
fn http_client_errors_are_plain() {
    let mut routes = Routes::new();
    routes.insert("/ok".into(), (200, elf_bytes("x")));
    routes.insert(
        "/ok.sha256".into(),
        (200, sha256_hex(&elf_bytes("x")).into_bytes()),
    );
    routes.insert(
        "/bad.sha256".into(),
        (200, b"<html>not a checksum</html>".to_vec()),
    );
    let server = Server::start(routes);
    let base = server.base();
    let tmp = tempfile::tempdir().unwrap();
    let http = Http::new();
    let f = http
        .download(
            &format!("{base}/ok"),
            Some(&format!("{base}/ok.sha256")),
            &tmp.path().join("ok"),
        )
        .unwrap();
    assert_eq!(f.sha256, sha256_hex(&elf_bytes("x")));
    assert!(f.unverified.is_none());
    let e = http
        .download(&format!("{base}/nope"), None, &tmp.path().join("nope"))
        .unwrap_err();
    assert_eq!(e, format!("GET {base}/nope: HTTP 404 Not Found"));
    let e = http
        .download(
            &format!("{base}/ok"),
            Some(&format!("{base}/bad.sha256")),
            &tmp.path().join("b"),
        )
        .unwrap_err();
    assert!(e.contains("no SHA-256 of ok in the checksum file"), "{e}");
    assert!(!tmp.path().join("b").exists());
    // Nothing listens there: a clear transport error, after the retries.
    drop(server);
    let e = http
        .download(&format!("{base}/ok"), None, &tmp.path().join("c"))
        .unwrap_err();
    assert!(e.starts_with(&format!("GET {base}/ok: ")), "{e}");
}

/// A registry for every image of `plan`: config + one layer per image, a
/// v2 manifest, and for `pause` an image index over amd64 and arm64.
/// `calico/node` is only served with a token, as Docker Hub does.
fn registry_routes(plan: &Plan, base: &str) -> Routes {
    let mut r = Routes::new();
    let digest = |b: &[u8]| format!("sha256:{}", sha256_hex(b));
    for n in plan.needs.iter().filter(|n| n.kind == Kind::Image) {
        let url = n
            .url
            .as_ref()
            .unwrap()
            .strip_prefix(base)
            .unwrap()
            .to_string();
        let api = url.rsplit_once("/manifests/").unwrap().0.to_string();
        let config = format!(
            "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"image\":\"{}\"}}",
            n.name
        )
        .into_bytes();
        let layer = gz_bytes(&n.name);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": digest(&config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer.len(), "digest": digest(&layer)}],
        })
        .to_string()
        .into_bytes();
        let protected = n.name.contains("calico/node");
        let mut put = |path: String, body: Vec<u8>| {
            if protected {
                r.insert(format!("AUTHED {path}"), (200, body));
                r.insert(
                    path,
                    (
                        401,
                        br#"Bearer realm="{base}/token",service="test""#.to_vec(),
                    ),
                );
            } else {
                r.insert(path, (200, body));
            }
        };
        put(format!("{api}/blobs/{}", digest(&config)), config.clone());
        put(format!("{api}/blobs/{}", digest(&layer)), layer.clone());
        if n.name.contains("/pause:") {
            let index = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {"digest": "sha256:".to_string() + &"0".repeat(64), "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
                    {"digest": digest(&manifest), "size": manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
                ],
            })
            .to_string()
            .into_bytes();
            put(format!("{api}/manifests/{}", digest(&manifest)), manifest);
            put(url, index);
        } else {
            put(url, manifest);
        }
    }
    r.insert(
        "/token?service=test".into(),
        (200, br#"{"token":"good-token"}"#.to_vec()),
    );
    r
}

#[test]
fn images_are_pulled_from_a_registry_into_oci_tarballs() {
    let conf = fixture("seed-root");
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    populate(&from, &plan_of(&conf), &[Kind::Deb, Kind::Binary]);
    let placeholder = "http://mirror.invalid";
    let plan = plan_with_mirror(&conf, placeholder);
    let mut routes = registry_routes(&plan, placeholder);
    // ks-installer: a layer whose bytes do not match its digest; tiller: not there.
    let ks = plan
        .needs
        .iter()
        .find(|n| n.name.contains("ks-installer"))
        .unwrap();
    let ks_api = ks
        .url
        .as_ref()
        .unwrap()
        .strip_prefix(placeholder)
        .unwrap()
        .rsplit_once("/manifests/")
        .unwrap()
        .0
        .to_string();
    let layer_key = routes
        .keys()
        .find(|k| {
            k.starts_with(&format!("{ks_api}/blobs/")) && routes[*k].1.starts_with(b"\x1f\x8b")
        })
        .unwrap()
        .clone();
    routes.get_mut(&layer_key).unwrap().1 = gz_bytes("tampered");
    let tiller = plan
        .needs
        .iter()
        .find(|n| n.name.contains("tiller"))
        .unwrap();
    routes.remove(
        tiller
            .url
            .as_ref()
            .unwrap()
            .strip_prefix(placeholder)
            .unwrap(),
    );
    let server = Server::start(routes);
    let base = server.base();
    let out = tmp.path().join("bundle");
    let args = |b: &str| -> Vec<String> {
        [
            "bundle",
            "build",
            "--conf",
            s(&conf),
            "-o",
            s(&out),
            "--from",
            s(&from),
            "--download",
            "--mirror",
            &format!("all={b}"),
            "--insecure-mirror", // the test server speaks plain HTTP on loopback
        ]
        .map(String::from)
        .to_vec()
    };
    let a = args(&base);
    let o = ksinstall(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let dl = errors(&stderr, "BundleDownload");
    assert_eq!(dl.len(), 2, "{stderr}");
    assert!(
        dl.iter()
            .any(|l| l.contains("docker.io/kubesphere/ks-installer:v2.1.1")
                && l.contains("digest mismatch")),
        "{stderr}"
    );
    assert!(
        dl.iter()
            .any(|l| l.contains("gcr.io/kubernetes-helm/tiller:v2.16.3")
                && l.contains("HTTP 404 Not Found")),
        "{stderr}"
    );
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|p| p == "/token?service=test"),
        "token fetched: {log:?}"
    );
    drop(server);

    // A good registry: everything pulls, the tarballs carry their names, the bundle verifies.
    let server = Server::start(registry_routes(&plan, placeholder));
    let a = args(&server.base());
    let o = ksinstall(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let m = Manifest::read(&out).unwrap();
    let pause = m.find(Kind::Image, "k8s.gcr.io/pause:3.1", "").unwrap();
    let refs = ksinstall::bundle::files::image_refs(&out.join(&pause.path)).unwrap();
    assert!(
        refs.contains(&"k8s.gcr.io/pause:3.1".to_string()),
        "{refs:?}"
    );
    // The OCI layout holds the amd64 manifest of the index, config and layer, by digest.
    let mut tar = tar::Archive::new(std::fs::File::open(out.join(&pause.path)).unwrap());
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("blobs/sha256/"))
            .count(),
        3,
        "{names:?}"
    );
    assert!(names.contains(&"oci-layout".to_string()) && names.contains(&"index.json".to_string()));
    // And docker-archive's manifest, which `docker load` reads: the config
    // and the layer, by the blobs' paths.
    let mut tar = tar::Archive::new(std::fs::File::open(out.join(&pause.path)).unwrap());
    let docker: serde_json::Value = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
        .map(|e| serde_json::from_reader(e).unwrap())
        .expect("manifest.json in the tarball");
    let blob = |v: &serde_json::Value| names.contains(&v.as_str().unwrap_or_default().to_string());
    assert!(blob(&docker[0]["Config"]), "{docker}");
    assert_eq!(
        docker[0]["Layers"].as_array().map(|l| l.len()),
        Some(1),
        "{docker}"
    );
    assert!(blob(&docker[0]["Layers"][0]), "{docker}");
    assert!(
        docker[0]["RepoTags"][0].as_str().unwrap().contains("pause"),
        "{docker}"
    );
    let o = ksinstall(&["bundle", "verify", s(&out), "--conf", s(&conf)]);
    assert!(o.status.success(), "{}", text(&o).1);
}

/// A plain http:// mirror is refused unless the operator says so, before
/// anything is fetched or written; other schemes always.
#[test]
fn plain_http_mirrors_are_refused_without_insecure_mirror() {
    let conf = fixture("seed-root");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let build = |mirror: &str, extra: &[&str]| {
        let mut a = vec![
            "bundle",
            "build",
            "--conf",
            s(&conf),
            "-o",
            s(&out),
            "--download",
            "--mirror",
            mirror,
        ];
        a.extend_from_slice(extra);
        ksinstall(&a)
    };
    for m in [
        "k8s=http://mirror.example",
        "docker.io=ftp://mirror.example",
        "github=mirror.example",
    ] {
        let o = build(m, &[]);
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{m}: {stdout}{stderr}");
        assert!(
            stderr.contains("BundleMirror") && stderr.contains(m),
            "{stderr}"
        );
        assert!(!out.exists(), "{m}: nothing is written");
    }
    let (_, stderr) = text(&build("k8s=http://mirror.example", &[]));
    assert!(stderr.contains("--insecure-mirror"), "{stderr}");
}
