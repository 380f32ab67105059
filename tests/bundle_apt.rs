//! A bundle built from real Debian packages, fetched with `apt-get download`
//! at test time, and then used by apt for real: apt reads the index and
//! resolves an install from it alone, with no network and as if the host
//! had nothing installed. Skipped (with a message) when apt cannot reach
//! its mirror, unless `CI` is set, where that is a failure.

mod bundle_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bundle_support::*;
use ksinstall::bundle::build::{self, BuildOptions};
use ksinstall::bundle::deb::{self, Paragraph};
use ksinstall::bundle::needs::Family;
use ksinstall::bundle::{aptrepo, fetch, select, verify, Kind};

const PACKAGES: [&str; 3] = ["socat", "conntrack", "ipset"];

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Fetches the packages with their dependencies, or says why not.
fn fetch_or_skip(dir: &Path) -> bool {
    let names: Vec<String> = PACKAGES.iter().map(|s| s.to_string()).collect();
    let why = if !have("apt-get") {
        "apt-get is not installed".to_string()
    } else {
        match fetch::apt_download(&names, true, dir) {
            Ok(_) => return true,
            Err(e) => e,
        }
    };
    if std::env::var_os("CI").is_some() {
        panic!("CI: cannot fetch Debian packages: {why}");
    }
    eprintln!("SKIPPED: cannot fetch Debian packages ({why}); run `apt-get update` first, or set CI to make this a failure");
    false
}

fn by_filename(paras: Vec<Paragraph>) -> BTreeMap<String, Paragraph> {
    paras
        .into_iter()
        .map(|p| {
            (
                p.get("Filename")
                    .unwrap()
                    .trim_start_matches("./")
                    .to_string(),
                p,
            )
        })
        .collect()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.env("LC_ALL", "C").output().expect("runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), out)
}

#[test]
fn real_packages_make_a_repository_apt_installs_from() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    if !fetch_or_skip(&from) {
        return;
    }
    let conf = fixture("seed-root");
    let mut plan = plan_of(&conf);
    plan.needs
        .retain(|n| n.kind == Kind::Deb && PACKAGES.contains(&n.name.as_str()));
    assert_eq!(plan.needs.len(), 3);
    let out = tmp.path().join("bundle");
    let built = build::build(
        &plan,
        &BuildOptions {
            out: out.clone(),
            from: vec![from.clone()],
            download: false,
            families: vec![Family::Deb],
            allow_missing: false,
            extra_images: vec![],
            date_epoch: 1_700_000_000,
        },
    )
    .unwrap_or_else(|r| panic!("{}", r.render()));
    let m = built.manifest;
    let debs = out.join("debs");

    // The index parses and lists the three with the files' real size and digest.
    let stanzas = by_filename(aptrepo::read_packages(&debs).unwrap());
    for name in PACKAGES {
        let e = m
            .find(Kind::Deb, name, "")
            .unwrap_or_else(|| panic!("{name} not in manifest"));
        let file = e.path.strip_prefix("debs/").unwrap();
        let p = &stanzas[file];
        let path = debs.join(file);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(p.get("Package"), Some(name));
        assert_eq!(p.get("Size").unwrap(), bytes.len().to_string());
        assert_eq!(p.get("SHA256").unwrap(), sha256_hex(&bytes));
        assert_eq!(e.sha256, sha256_hex(&bytes));
        // dpkg's own reading of the package agrees with ours.
        let o = Command::new("dpkg-deb")
            .arg("-f")
            .arg(&path)
            .args(["Package", "Version", "Architecture"])
            .output();
        if let Some(o) = o.ok().filter(|o| o.status.success()) {
            let fields = String::from_utf8_lossy(&o.stdout);
            let f = &deb::parse_paragraphs(&fields).unwrap()[0];
            for k in ["Package", "Version", "Architecture"] {
                assert_eq!(f.get(k), p.get(k), "{file} {k}");
            }
        }
    }
    // Dependencies came along (libc6 at least), marked as such.
    let libc = m
        .find(Kind::Deb, "libc6", "")
        .expect("libc6 pulled in as a dependency");
    assert!(!libc.dependency_of.is_empty());
    assert!(m.notes.is_empty(), "closure complete: {:?}", m.notes);
    assert!(
        aptrepo::check_index(&debs).is_empty(),
        "{:?}",
        aptrepo::check_index(&debs)
    );

    // dpkg-scanpackages, given the same files, writes the same paragraphs.
    if have("dpkg-scanpackages") {
        let o = Command::new("dpkg-scanpackages")
            .args(["--multiversion", ".", "/dev/null"])
            .current_dir(&debs)
            .output()
            .unwrap();
        assert!(o.status.success());
        let theirs =
            by_filename(deb::parse_paragraphs(&String::from_utf8_lossy(&o.stdout)).unwrap());
        assert_eq!(theirs.len(), stanzas.len());
        for (file, p) in &theirs {
            let ours = &stanzas[file];
            let norm = |p: &Paragraph| -> BTreeMap<String, String> {
                p.fields
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            };
            assert_eq!(norm(ours), norm(p), "{file}: ours vs dpkg-scanpackages");
        }
    } else {
        eprintln!("note: dpkg-scanpackages not installed; cross-check skipped");
    }

    // apt itself: only this repository, its own lists and cache, an empty
    // dpkg status (a bare host), and a dead proxy so that any network access fails.
    let state = tmp.path().join("apt");
    let apt = select::LocalApt {
        repo_dir: debs.to_str().unwrap().to_string(),
        state_dir: state.to_str().unwrap().to_string(),
    };
    for d in apt.dirs() {
        std::fs::create_dir_all(d).unwrap();
    }
    let (list, line) = apt.sources_list();
    assert_eq!(
        line.trim(),
        format!("deb [trusted=yes] file:{} ./", debs.display())
    );
    std::fs::write(&list, line).unwrap();
    let status = tmp.path().join("status");
    std::fs::write(&status, "").unwrap();
    let isolated = |args: Vec<String>| -> Command {
        let mut c = Command::new("apt-get");
        c.args([
            "-q",
            "-o",
            &format!("Dir::State::status={}", status.display()),
        ])
        .args(["-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"])
        .args([
            "-o",
            "Acquire::http::Proxy=http://127.0.0.1:9",
            "-o",
            "Acquire::https::Proxy=http://127.0.0.1:9",
        ])
        .args(args);
        c
    };
    let (ok, log) = run(&mut isolated(apt.update_args()));
    assert!(
        ok && !log.contains("W:") && !log.contains("E:"),
        "apt-get update:\n{log}"
    );
    let lists: Vec<String> = std::fs::read_dir(state.join("lists"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("_Packages"))
        .collect();
    assert_eq!(lists.len(), 1, "only the bundle's index: {lists:?}");

    let pkgs: Vec<String> = PACKAGES.iter().map(|s| s.to_string()).collect();
    let mut sim = apt.install_args(&pkgs);
    sim.insert(sim.len() - pkgs.len(), "--simulate".into());
    let (ok, log) = run(&mut isolated(sim));
    assert!(ok, "apt-get install --simulate:\n{log}");
    for name in PACKAGES.iter().chain(&["libc6"]) {
        assert!(
            log.lines().any(|l| l.starts_with(&format!("Inst {name} "))),
            "{name} not resolved:\n{log}"
        );
    }
    let inst: Vec<&str> = log.lines().filter(|l| l.starts_with("Inst ")).collect();
    eprintln!(
        "apt resolved {} packages from the bundle alone:\n{}",
        inst.len(),
        inst.join("\n")
    );
    assert!(
        inst.iter().all(|l| l.contains("ksinstall offline bundle")),
        "every package from the bundle's Release"
    );
    let mut dl = apt.install_args(&pkgs);
    dl.insert(dl.len() - pkgs.len(), "--download-only".into());
    let (ok, log) = run(&mut isolated(dl));
    assert!(
        ok && log.contains("Download complete and in download only mode"),
        "apt-get install --download-only:\n{log}"
    );

    // verify: clean, then one tampered package and a cluster that needs more.
    let v = verify::verify(&out, None);
    assert!(!v.report.has_errors(), "{}", v.report.render());
    let socat = out.join(&m.find(Kind::Deb, "socat", "").unwrap().path);
    let mut bytes = std::fs::read(&socat).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&socat, bytes).unwrap();
    let o = ksinstall(&[
        "bundle",
        "verify",
        out.to_str().unwrap(),
        "--conf",
        conf.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        errors(&stderr, "BundleChecksum")
            .iter()
            .any(|l| l.contains("socat_")),
        "{stderr}"
    );
    assert!(
        errors(&stderr, "AptIndex")
            .iter()
            .any(|l| l.contains("socat_") && l.contains("SHA256")),
        "{stderr}"
    );
    let missing = errors(&stderr, "BundleMissing");
    for want in [
        "kubeadm v1.12.3 (binary",
        "containerd (Debian package",
        "k8s.gcr.io/pause:3.1 (image",
    ] {
        assert!(
            missing.iter().any(|l| l.contains(want)),
            "{want} not reported:\n{stderr}"
        );
    }
    assert!(
        !missing
            .iter()
            .any(|l| l.contains(": socat ") || l.contains(": ipset ")),
        "{stderr}"
    );
    assert!(stderr.contains(" errors found"), "{stderr}");
}

#[test]
fn download_path_is_the_same_through_the_cli() {
    // `--download` fetches missing Debian packages with apt; everything else
    // comes from --from. The bundle then verifies against the cluster.
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("probe");
    if !fetch_or_skip(&probe) {
        return;
    }
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::copy(fixture("seed-root/hosts.ini"), conf.join("hosts.ini")).unwrap();
    std::fs::copy(fixture("seed-root/vars.yml"), conf.join("vars.yml")).unwrap();
    let plan = plan_of(&conf);
    let from = tmp.path().join("from");
    populate(&from, &plan, &[Kind::Deb, Kind::Binary, Kind::Image]);
    // Real socat/conntrack/ipset instead of stand-ins: the build must fetch them.
    for name in PACKAGES {
        std::fs::remove_file(from.join(format!("{name}_1.0-1_amd64.deb"))).unwrap();
    }
    let out: PathBuf = tmp.path().join("bundle");
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        conf.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--from",
        from.to_str().unwrap(),
        "--download",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("downloading 3 Debian package(s)"),
        "{stderr}"
    );
    let m = ksinstall::bundle::manifest::Manifest::read(&out).unwrap();
    let socat = m.find(Kind::Deb, "socat", "").unwrap();
    assert_ne!(socat.version, "1.0-1");
    let o = ksinstall(&[
        "bundle",
        "verify",
        out.to_str().unwrap(),
        "--conf",
        conf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
}
