//! A real API server as the oracle, at every served minor: kube-apiserver
//! v1.34.4 and the `ORACLE_VERSIONS` of scripts/kube/versions.sh, with etcd
//! v3.6.8, built from their Go modules (`scripts/kube/build.sh`,
//! `OUT/oracle`), run on loopback; every manifest rendered for every layout
//! at each version
//! (each network plugin, storage kind, LB mode, KubeSphere version) goes
//! through `kubectl apply --dry-run=server`, after its namespaces and CRDs
//! were created for real. Without the build it says so and passes; under
//! `CI` it fails.

mod render_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use render_support::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Processes killed when the test ends, pass or fail.
struct Procs(Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
    // child when this test process dies, even by a signal (no Drop then).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

struct Api {
    kubectl: PathBuf,
    server: String,
    token: String,
}

impl Api {
    fn kubectl<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        Command::new("timeout")
            .args(["-k", "5", "60"])
            .arg(&self.kubectl)
            .args([
                "--server",
                &self.server,
                "--token",
                &self.token,
                "--insecure-skip-tls-verify",
            ])
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// etcd and kube-apiserver on loopback, ready.
fn start(out: &Path, kubectl: &Path, dir: &Path, procs: &mut Procs) -> Api {
    let (client, peer, secure) = (free_port(), free_port(), free_port());
    procs.0.push(spawn(
        &out.join("oracle/etcd"),
        &[
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls=http://127.0.0.1:{client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
        ],
        &dir.join("etcd.log"),
    ));
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    let sa = dir.join("sa.key");
    std::fs::write(&sa, key.private_key_to_pem().unwrap()).unwrap();
    let mut raw = [0u8; 16];
    openssl::rand::rand_bytes(&mut raw).unwrap();
    let token = hex::encode(raw);
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, format!("{token},oracle,oracle,system:masters\n")).unwrap();
    procs.0.push(spawn(
        &out.join("oracle/kube-apiserver"),
        &[
            format!("--etcd-servers=http://127.0.0.1:{client}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            // From 1.37 the lease reconciler refuses a loopback address: a
            // lone oracle needs no `kubernetes` service endpoints.
            "--endpoint-reconciler-type=none".into(),
            format!("--secure-port={secure}"),
            format!("--cert-dir={}", dir.join("certs").display()),
            format!("--service-account-key-file={}", sa.display()),
            format!("--service-account-signing-key-file={}", sa.display()),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".into(),
            "--allow-privileged=true".into(),
            "--service-cluster-ip-range=10.233.0.0/18".into(),
        ],
        &dir.join("apiserver.log"),
    ));
    let api = Api {
        kubectl: kubectl.to_path_buf(),
        server: format!("https://127.0.0.1:{secure}"),
        token,
    };
    let t0 = Instant::now();
    loop {
        let o = api.kubectl(&["get", "--raw", "/readyz"]);
        if o.status.success() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the API server did not get ready: {}\n{}",
            text(&o),
            std::fs::read_to_string(dir.join("apiserver.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    api
}

/// `args` followed by `-f FILE` for each of `files`.
fn with_files(args: &[&str], files: &[PathBuf]) -> Vec<String> {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    for f in files {
        a.push("-f".into());
        a.push(f.display().to_string());
    }
    a
}

/// The documents of `yaml` whose kind is one of `kinds`.
fn docs_of_kind(yaml: &str, kinds: &[&str]) -> String {
    yaml.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| kinds.iter().any(|k| l.trim_end() == format!("kind: {k}")))
        })
        .map(|d| format!("---\n{}\n", d.trim_start_matches('\n')))
        .collect()
}

#[test]
fn the_api_server_accepts_every_rendered_manifest() {
    // The client: the kubectl of the whole build serves every version.
    let Some(client) = kube_build(&["bin/kubectl"]) else {
        return;
    };
    let kubectl = client.join("bin/kubectl");
    let mut done = Vec::new();
    for version in oracle_versions() {
        let rels = ["oracle/kube-apiserver", "oracle/etcd"];
        if let Some(out) = kube_build_at(&version, &rels) {
            let n = dry_run_at(&version, &out, &kubectl);
            done.push(format!("{version}: {n}"));
        }
    }
    eprintln!("kube-apiserver --dry-run=server, rendered manifests accepted: {done:?}");
}

/// Every manifest of every layout rendered at `version`, through a real
/// API server of that version: the number checked.
fn dry_run_at(version: &str, out: &Path, kubectl: &Path) -> usize {
    let dir = scratch(&format!("apiserver-dry-run-{version}"));
    let mut procs = Procs(Vec::new());
    let api = start(out, kubectl, &dir, &mut procs);
    let mut checked = 0;
    for v in VARIANTS {
        for ks in ["", "\nks_version: v3.4.1"] {
            if !ks.is_empty() && v.extra.contains("ks_version") {
                continue;
            }
            let extra = format!("{}\netcd_version: v3.6.8{ks}", v.extra);
            let variant = Variant {
                extra: Box::leak(extra.into_boxed_str()),
                ..*v
            };
            let r = render_variant(&variant, Some(version), None);
            // Namespaces and CRDs for real, so objects in them can be checked.
            let mut pre = Vec::new();
            for m in &r.manifests {
                let first = docs_of_kind(&m.content, &["Namespace", "CustomResourceDefinition"]);
                if !first.is_empty() {
                    let f = dir.join(format!("pre-{}", m.name));
                    std::fs::write(&f, first).unwrap();
                    pre.push(f);
                }
            }
            if !pre.is_empty() {
                let o = api.kubectl(&with_files(&["apply"], &pre));
                assert!(o.status.success(), "{}: {}", v.name, text(&o));
            }
            let o = api.kubectl(&[
                "wait",
                "--for=condition=established",
                "--timeout=60s",
                "crd",
                "--all",
            ]);
            assert!(
                o.status.success() || text(&o).contains("no matching resources"),
                "{}",
                text(&o)
            );
            // One kubectl for the whole layout: its errors name the file.
            let mut files = Vec::new();
            for m in &r.manifests {
                let f = dir.join(&m.name);
                std::fs::write(&f, &m.content).unwrap();
                files.push(f);
            }
            let o = api.kubectl(&with_files(&["apply", "--dry-run=server"], &files));
            assert!(
                o.status.success(),
                "the API server {version} refuses manifests of {}{ks}:\n{}",
                v.name,
                text(&o)
            );
            checked += files.len();
        }
    }
    drop(procs);
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        checked >= 20,
        "only {checked} manifests checked at {version}"
    );
    checked
}
