//! A whole cluster installed online on the lab, without a bundle: every
//! phase of `ksinstall install`, with each host's OS packages from its own
//! apt sources (an HTTP mirror on the lab's network), Kubernetes' binaries
//! downloaded by each host from `--mirror`s laid out as dl.k8s.io and
//! GitHub lay them out (each checked against the sha256 published beside
//! it, etcd's against its `SHA256SUMS`), and every image pulled from a
//! company registry the install does not run: Debian's docker-registry on
//! the taskbox side (10.77.0.1:5443, TLS with a CA this test makes), filled
//! beforehand by `ksinstall bundle push` behind an htpasswd login (a wrong
//! password refused and never printed), then served read-only and
//! anonymously (`local_registry`, `local_registry_ca` in vars.yml). Then:
//! every node Ready, kube-system Running, node3's runtime holding only the
//! company registry's images, no image tarball or package on any host, the
//! mirror's log showing each host's downloads, a pod pulling busybox from
//! the registry, and a second run changing nothing.
//!
//! Needs root and the Kubernetes build (`KUBE_OUT`), as `e2e_cluster`;
//! without either it says so and passes, under `CI` it fails.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};

mod lab_support;

use lab_support::cluster::{
    can_run, kube_out, kube_version, prepare, taskbox, Cluster, Layout, BIN, BUSYBOX,
};
use lab_support::{lab, on, run, text};

/// node1 master + etcd, node2 and node3 workers.
const LAYOUT: Layout = Layout {
    hosts: 3,
    masters: 1,
    dir: "/var/tmp/ksinstall-e2e-online-cluster",
};

/// The company registry, on the taskbox side of the lab's network.
const REGISTRY: &str = "10.77.0.1:5443";
const HOSTS: [(&str, &str); 3] = [
    ("node1", "10.77.0.11"),
    ("node2", "10.77.0.12"),
    ("node3", "10.77.0.13"),
];
const IGNORED: &str = "KubeSphereImage,StorageImage,Disk";

/// A child process in the lab's network namespace, killed when dropped
/// (also when an assertion unwinds), so no server outlives the test.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The company mirror: python3's http.server on 10.77.0.1:8000, its
/// request log (one line per GET, client address first) in `log`.
fn serve_mirror(root: &Path, log: &Path) -> Served {
    let log = File::create(log).unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            "lab",
            "python3",
            "-m",
            "http.server",
            "8000",
        ])
        .args(["--bind", "10.77.0.1", "--directory"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("python3's http.server");
    Served(child)
}

/// Debian's docker-registry with `config`, once it accepts connections.
fn serve_registry(bin: &Path, config: &Path, log: &Path) -> Served {
    let out = File::options().create(true).append(true).open(log).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", "lab"])
        .arg(bin)
        .arg("serve")
        .arg(config)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("docker-registry");
    let mut served = Served(child);
    wait_listening(&mut served, log);
    served
}

/// Polls (every 0.5 s, at most 30 s) until the registry's port accepts a
/// connection from the lab's side; fails at once if the registry exited.
fn wait_listening(served: &mut Served, log: &Path) {
    let probe = format!(": </dev/tcp/{}", REGISTRY.replace(':', "/"));
    let t0 = Instant::now();
    loop {
        if let Some(s) = served.0.try_wait().unwrap() {
            let l = std::fs::read_to_string(log).unwrap_or_default();
            panic!("docker-registry exited ({s}):\n{l}");
        }
        if taskbox(5, &["bash", "-c", &probe]).status.success() {
            return;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let l = std::fs::read_to_string(log).unwrap_or_default();
            panic!("docker-registry not listening on {REGISTRY} after 30 s:\n{l}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Debian's docker-registry binary, unpacked from the package that
/// prepare-offline fetched (the taskbox does not have it installed).
fn registry_bin(dir: &Path) -> PathBuf {
    let debs = dir.join("debs");
    let deb = std::fs::read_dir(&debs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("docker-registry_") && n.ends_with(".deb")
        })
        .unwrap_or_else(|| panic!("no docker-registry_*.deb in {}", debs.display()));
    let pkg = dir.join("registry-pkg");
    let _ = std::fs::remove_dir_all(&pkg);
    let args = ["-x", deb.to_str().unwrap(), pkg.to_str().unwrap()];
    let o = run(120, "dpkg-deb", &args, &[]);
    assert!(o.status.success(), "dpkg-deb: {}", text(&o));
    pkg.join("usr/bin/docker-registry")
}

/// `CN=cn`.
fn name(cn: &str) -> Result<X509Name, ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    Ok(name.build())
}

/// A certificate's common fields: v3, a random serial, 30 days from now.
fn builder(subject: &X509Name, key: &PKey<Private>) -> Result<X509Builder, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_pubkey(key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(30)?);
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

/// The company's CA, self-signed.
fn company_ca() -> Result<(X509, PKey<Private>), ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let subject = name("test company CA")?;
    let mut b = builder(&subject, &key)?;
    b.set_issuer_name(&subject)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    let usage = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build()?;
    b.append_extension(usage)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// The registry's server certificate, for IP 10.77.0.1, signed by `ca`.
fn server_cert(ca: &X509, ca_key: &PKey<Private>) -> Result<(X509, PKey<Private>), ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut b = builder(&name("company registry")?, &key)?;
    b.set_issuer_name(ca.subject_name())?;
    b.append_extension(BasicConstraints::new().build()?)?;
    let usage = KeyUsage::new()
        .critical()
        .digital_signature()
        .key_encipherment()
        .build()?;
    b.append_extension(usage)?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .ip("10.77.0.1")
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(san)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(aki)?;
    b.sign(ca_key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// ca.crt, server.crt and server.key in `reg`.
fn pki(reg: &Path) {
    let (ca, ca_key) = company_ca().expect("the company CA");
    let (cert, key) = server_cert(&ca, &ca_key).expect("the registry's certificate");
    std::fs::write(reg.join("ca.crt"), ca.to_pem().unwrap()).unwrap();
    std::fs::write(reg.join("server.crt"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(
        reg.join("server.key"),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
}

/// 32 random hex digits.
fn random_password() -> String {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).unwrap();
    hex::encode(b)
}

/// A file only its owner reads (mode 0600 from its creation).
fn write_private(path: &Path, content: &str) {
    use std::io::Write;
    let mut f = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(content.as_bytes()).unwrap();
}

/// The pusher's login: `htpasswd` (bcrypt, the only hash the registry
/// reads) and `password`; returns the password.
fn credentials(reg: &Path) -> String {
    let password = random_password();
    let hash = bcrypt::hash(&password, 10).unwrap();
    std::fs::write(reg.join("htpasswd"), format!("pusher:{hash}\n")).unwrap();
    write_private(&reg.join("password"), &password);
    password
}

/// The registry's configuration: for the push, writable behind the
/// htpasswd login; else read-only and anonymous, as the nodes pull.
fn registry_config(reg: &Path, push: bool) -> PathBuf {
    let r = reg.display();
    let auth = match push {
        true => format!("auth:\n  htpasswd:\n    realm: company\n    path: {r}/htpasswd\n"),
        false => String::new(),
    };
    let yaml = format!(
        "version: 0.1\nlog:\n  fields:\n    service: company-registry\nstorage:\n  filesystem:\n    rootdirectory: {r}/data\n  maintenance:\n    readonly:\n      enabled: {ro}\nhttp:\n  addr: {REGISTRY}\n  tls:\n    certificate: {r}/server.crt\n    key: {r}/server.key\n{auth}",
        ro = !push,
    );
    let path = reg.join(if push {
        "config-push.yml"
    } else {
        "config.yml"
    });
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `ksinstall bundle push` of the cluster's bundle into the company
/// registry, from the lab's side (as the install runs), with `extra` args.
fn bundle_push(c: &Cluster, reg: &Path, extra: &[&str]) -> Output {
    let bundle = c.bundle.to_str().unwrap();
    let ca = reg.join("ca.crt");
    let mut args = vec![BIN, "bundle", "push", bundle, "--registry", REGISTRY];
    args.extend(["--registry-ca", ca.to_str().unwrap()]);
    args.extend_from_slice(extra);
    taskbox(900, &args)
}

/// The bundle's image tarballs: what the first push must push.
fn bundle_images(c: &Cluster) -> usize {
    std::fs::read_dir(c.bundle.join("images"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("tar".as_ref()))
        .count()
}

/// Writable behind the login: a wrong password is refused (and printed
/// nowhere), the right one pushes every image of the bundle.
fn push_with_login(c: &Cluster, reg: &Path, password: &str) {
    let wrong = random_password();
    let wrong_file = reg.join("password-wrong");
    write_private(&wrong_file, &wrong);
    let login = |f: &Path| {
        let login = ["--user", "pusher", "--password-file", f.to_str().unwrap()];
        bundle_push(c, reg, &login)
    };
    let o = login(&wrong_file);
    let out = text(&o);
    assert!(
        !o.status.success(),
        "a wrong password must fail the push:\n{out}"
    );
    assert!(
        !out.contains(&wrong) && !out.contains(password),
        "the push printed a password:\n{out}"
    );
    let o = login(&reg.join("password"));
    let out = text(&o);
    assert!(o.status.success(), "bundle push failed:\n{out}");
    let n = bundle_images(c);
    assert!(
        out.contains(&format!("pushed {n} image(s)")) && !out.contains(password),
        "the push must say it pushed the bundle's {n} images (and no password):\n{out}"
    );
}

/// Read-only and anonymous: a second push finds every image there (its
/// HEAD checks are reads) and an anonymous write is refused, over TLS
/// checked against the company CA.
fn read_only_holds_all(c: &Cluster, reg: &Path) {
    let o = bundle_push(c, reg, &[]);
    let out = text(&o);
    assert!(
        o.status.success() && out.contains("holds every image"),
        "a second push must find every image there:\n{out}"
    );
    let ca = reg.join("ca.crt");
    let ca = ca.to_str().unwrap();
    let url = format!("https://{REGISTRY}/v2/evil/blobs/uploads/");
    let curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"];
    let o = taskbox(
        30,
        &[&curl[..], &["--cacert", ca, "-X", "POST", &url]].concat(),
    );
    let code = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && !code.starts_with('2'),
        "an anonymous write must be refused: {code} {}",
        text(&o)
    );
}

/// The company registry filled with the bundle's images, then serving
/// them read-only to anonymous pulls.
fn company_registry(c: &Cluster) -> (Served, PathBuf) {
    let reg = c.dir.join("company-registry");
    let _ = std::fs::remove_dir_all(&reg);
    std::fs::create_dir_all(&reg).unwrap();
    pki(&reg);
    let password = credentials(&reg);
    let bin = registry_bin(&c.dir);
    let log = reg.join("registry.log");
    {
        let _writable = serve_registry(&bin, &registry_config(&reg, true), &log);
        push_with_login(c, &reg, &password);
    }
    let served = serve_registry(&bin, &registry_config(&reg, false), &log);
    read_only_holds_all(c, &reg);
    (served, reg.join("ca.crt"))
}

/// The version in a KUBE_OUT/bin file name `PREFIX<version>SUFFIX`.
fn version_in(bin: &Path, prefix: &str, suffix: &str) -> String {
    std::fs::read_dir(bin)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .find_map(|n| Some(n.strip_prefix(prefix)?.strip_suffix(suffix)?.to_string()))
        .unwrap_or_else(|| panic!("no {prefix}*{suffix} in {}", bin.display()))
}

/// `src` linked at `root/rel` (http.server follows symlinks), and its
/// sha256 hex.
fn link(root: &Path, rel: &str, src: &Path) -> String {
    use sha2::{Digest, Sha256};
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(src, &p).unwrap();
    hex::encode(Sha256::digest(std::fs::read(src).unwrap()))
}

/// The versions the mirror serves: crictl, CNI plugins, etcd.
struct Versions {
    crictl: String,
    cni: String,
    etcd: String,
}

/// KUBE_OUT/bin's `file` at `root/dir/file`, with `file.sha256` beside
/// it in GitHub's release form (`hex  name`).
fn github_asset(root: &Path, dir: &str, file: &str) {
    let hex = link(
        root,
        &format!("{dir}/{file}"),
        &kube_out().join("bin").join(file),
    );
    let sum = format!("{hex}  {file}\n");
    std::fs::write(root.join(format!("{dir}/{file}.sha256")), sum).unwrap();
}

/// The company's download mirror from KUBE_OUT, as dl.k8s.io and GitHub
/// lay it out: kubeadm, kubelet, kubectl with a bare hex `.sha256`;
/// crictl and the CNI plugins with `hex  name`; etcd with the release's
/// `SHA256SUMS`, which lists every platform (a made-up other one here).
fn download_mirror(root: &Path) -> Versions {
    let bin = kube_out().join("bin");
    let k8s = format!("k8s/release/{}/bin/linux/amd64", kube_version());
    for b in ["kubeadm", "kubelet", "kubectl"] {
        let hex = link(root, &format!("{k8s}/{b}"), &bin.join(b));
        std::fs::write(root.join(format!("{k8s}/{b}.sha256")), hex).unwrap();
    }
    let v = Versions {
        crictl: version_in(&bin, "crictl-", "-linux-amd64.tar.gz"),
        cni: version_in(&bin, "cni-plugins-linux-amd64-", ".tgz"),
        etcd: version_in(&bin, "etcd-", "-linux-amd64.tar.gz"),
    };
    let (crictl, cni) = (&v.crictl, &v.cni);
    github_asset(
        root,
        &format!("github/kubernetes-sigs/cri-tools/releases/download/{crictl}"),
        &format!("crictl-{crictl}-linux-amd64.tar.gz"),
    );
    github_asset(
        root,
        &format!("github/containernetworking/plugins/releases/download/{cni}"),
        &format!("cni-plugins-linux-amd64-{cni}.tgz"),
    );
    let dir = format!("github/etcd-io/etcd/releases/download/{}", v.etcd);
    let file = format!("etcd-{}-linux-amd64.tar.gz", v.etcd);
    let hex = link(root, &format!("{dir}/{file}"), &bin.join(&file));
    let other = format!("{}  etcd-{}-darwin-arm64.zip\n", "ab".repeat(32), v.etcd);
    let sums = format!("{other}{hex}  {file}\n");
    std::fs::write(root.join(format!("{dir}/SHA256SUMS")), sums).unwrap();
    v
}

/// Every host's apt reads only `line` (the operator's own sources).
fn sources(line: &str) {
    for (h, _) in HOSTS {
        let o = on(
            h,
            &format!("rm -f /etc/apt/sources.list.d/* && echo '{line}' > /etc/apt/sources.list"),
        );
        assert!(o.status.success(), "{h}: {}", text(&o));
    }
}

/// `ksinstall install`, every phase, without `--bundle`: binaries from the
/// mirrors, images from the company registry.
fn online_install(c: &Cluster) -> Output {
    c.ks(
        1800,
        &[
            "install",
            "--mode",
            "multi-node",
            "--yes",
            "--mirror",
            "k8s=http://10.77.0.1:8000/k8s",
            "--mirror",
            "github=http://10.77.0.1:8000/github",
            "--insecure-mirror",
            "--ignore-errors",
            IGNORED,
        ],
    )
}

/// Every image name (tag or digest) `host`'s runtime holds.
fn images_on(host: &str) -> Vec<String> {
    let o = on(host, "crictl images -o json");
    assert!(o.status.success(), "{host}: crictl images: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{host}: crictl's JSON: {e}\n{}", text(&o)));
    let mut names = Vec::new();
    for i in v["images"].as_array().into_iter().flatten() {
        for k in ["repoTags", "repoDigests"] {
            let list = i[k].as_array().into_iter().flatten();
            names.extend(list.filter_map(|n| n.as_str().map(str::to_string)));
        }
    }
    names
}

/// node3 holds only the company registry's images, kube-proxy, pause and
/// flannel among them: nothing pulled from upstream, nothing imported.
fn only_company_images() {
    let names = images_on("node3");
    let prefix = format!("{REGISTRY}/");
    let foreign: Vec<&String> = names.iter().filter(|n| !n.starts_with(&prefix)).collect();
    assert!(
        foreign.is_empty(),
        "node3 holds images from elsewhere: {foreign:?}"
    );
    for want in ["kube-proxy", "pause", "flannel"] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "node3 has no {want} image: {names:?}"
        );
    }
}

/// No host received a package or an image tarball: nothing of a bundle.
fn nothing_shipped() {
    let script =
        "! find /opt/ksinstall/repo \\( -name '*.deb' -o -name '*.tar' \\) 2>/dev/null | grep . \
                  && ! ls /opt/ksinstall/repo/images/ 2>/dev/null | grep .";
    for (h, _) in HOSTS {
        let o = on(h, script);
        assert!(o.status.success(), "{h} holds bundle files: {}", text(&o));
    }
}

/// The mirror's log: each host fetched kubeadm, and the etcd host (node1)
/// etcd's tarball and its SHA256SUMS.
fn mirror_served(log: &Path, v: &Versions) {
    let served = std::fs::read_to_string(log).unwrap();
    let got = |ip: &str, path: &str| {
        let get = format!("\"GET {path} HTTP/");
        served
            .lines()
            .any(|l| l.starts_with(&format!("{ip} ")) && l.contains(&get))
    };
    let kubeadm = format!("/k8s/release/{}/bin/linux/amd64/kubeadm", kube_version());
    for (h, ip) in HOSTS {
        assert!(got(ip, &kubeadm), "{h} did not fetch {kubeadm}:\n{served}");
    }
    let etcd = format!("/github/etcd-io/etcd/releases/download/{}", v.etcd);
    for f in [
        format!("etcd-{}-linux-amd64.tar.gz", v.etcd),
        "SHA256SUMS".into(),
    ] {
        let path = format!("{etcd}/{f}");
        assert!(
            got(HOSTS[0].1, &path),
            "node1 did not fetch {path}:\n{served}"
        );
    }
}

/// A pod on node3 pulls the bundle's busybox, as pushed, from the company
/// registry and prints.
fn busybox_pulled(c: &Cluster) {
    let path = BUSYBOX.split_once('/').unwrap().1;
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pulled\nspec:\n  restartPolicy: Never\n  nodeName: node3\n  containers:\n  - name: p\n    image: {REGISTRY}/{path}\n    imagePullPolicy: Always\n    command: [\"sh\", \"-c\", \"echo pulled from the company registry\"]\n"
    ));
    c.wait(
        "a pod pulls from the company registry",
        Duration::from_secs(120),
        |c| c.pod_phase("pulled", "Succeeded"),
    );
    let logs = c.kubectl_ok(&["logs", "pulled"]);
    assert!(logs.contains("pulled from the company registry"), "{logs}");
}

/// The company mirror serving: the Debian packages and the download
/// layout. Returns the server, its request log and the versions it has.
fn company_mirror(c: &Cluster) -> (Served, PathBuf, Versions) {
    let root = c.dir.join("mirror");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    // The bundle's debs carry the apt index (Packages) the hosts read;
    // DIR/debs, as fetched, has none. Only served: no --bundle is given.
    std::os::unix::fs::symlink(c.bundle.join("debs"), root.join("debs")).unwrap();
    let versions = download_mirror(&root);
    let log = c.dir.join("mirror.log");
    (serve_mirror(&root, &log), log, versions)
}

/// vars.yml: every node pulls every image from the company registry,
/// trusting its CA.
fn registry_vars(c: &Cluster, ca: &Path) {
    let vars = c.installer.join("conf/vars.yml");
    let mut v = std::fs::read_to_string(&vars).unwrap();
    v.push_str(&format!(
        "local_registry: \"{REGISTRY}\"\nlocal_registry_ca: {}\n",
        ca.display()
    ));
    std::fs::write(&vars, v).unwrap();
}

#[test]
fn an_online_cluster_from_a_mirror_and_a_company_registry() {
    if !can_run() {
        return;
    }
    let t0 = Instant::now();
    let c = prepare(&LAYOUT);
    // prepare-offline builds its bundle at DIR/bundle: not the installer
    // directory's default, so the install finds no bundle.
    assert!(!c.installer.join("bundle").exists());
    let (registry, ca) = company_registry(&c);

    let (mirror, log, versions) = company_mirror(&c);
    sources("deb [trusted=yes] http://10.77.0.1:8000/debs ./");
    registry_vars(&c, &ca);

    let t_install = Instant::now();
    let first = online_install(&c);
    let out = text(&first);
    assert!(first.status.success(), "install failed:\n{out}");
    eprintln!("{out}");
    let install_s = t_install.elapsed();

    c.wait("all nodes Ready", Duration::from_secs(300), |c| {
        c.nodes_ready(3)
    });
    c.wait("kube-system pods Running", Duration::from_secs(300), |c| {
        c.kube_system_running(9)
    });
    c.show();
    only_company_images();
    nothing_shipped();
    mirror_served(&log, &versions);
    busybox_pulled(&c);

    // A second run installs nothing and changes nothing.
    let second = online_install(&c);
    let out = text(&second);
    assert!(second.status.success(), "second install failed:\n{out}");
    assert!(
        out.contains(" changed=0 "),
        "a second run must change nothing:\n{out}"
    );

    // The servers run in the lab's namespace: stopped before it goes.
    drop(mirror);
    drop(registry);
    lab(&["down"]);
    eprintln!(
        "online cluster e2e: install {install_s:?}, total {:?}",
        t0.elapsed()
    );
}
