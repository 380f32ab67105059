//! The RPM side of the bundle with real RPMs: two tiny packages built with
//! `rpmbuild`, `bundle build --os-family rpm` indexes them (createrepo_c),
//! dnf (Debian's) reads that repository through the very repository file
//! the install writes on an RPM host, and an RPM host's part of the bundle
//! is every RPM with the repodata. No RPM-based host runs here: dnf works
//! in an install root of its own. Without rpmbuild, createrepo_c or dnf the
//! test says so and passes, unless `CI` is set, where that is a failure.

mod bundle_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bundle_support::*;
use ksinstall::bundle::manifest::Manifest;
use ksinstall::bundle::needs::{self, Family, PlanOptions};
use ksinstall::bundle::{select, Kind};
use ksinstall::diag::Report;
use ksinstall::install::facts::Facts;

/// The two RPMs: socat as the plan names it, and conntrack, whose RPM name
/// is not its Debian one.
const RPMS: [(&str, &str); 2] = [("socat", "1.7.4.1"), ("conntrack-tools", "1.4.7")];

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tools_or_skip() -> bool {
    let missing: Vec<&str> = ["rpmbuild", "createrepo_c", "dnf"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{} not installed", missing.join(", "));
    if std::env::var_os("CI").is_some() {
        panic!("CI: {why} (scripts/deps.sh tests installs them)");
    }
    eprintln!(
        "SKIPPED: {why}; apt-get install createrepo-c dnf rpm, or set CI to make this a failure"
    );
    false
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("runs");
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{cmd:?}:\n{stdout}\n{stderr}");
    stdout
}

/// A noarch RPM holding one file, built with rpmbuild in `work`; its path.
fn rpmbuild(work: &Path, name: &str, version: &str) -> PathBuf {
    let spec = work.join(format!("{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: stand-in for {name}\nLicense: MIT\nBuildArch: noarch\n\
             %description\nA stand-in for the ksinstall bundle tests.\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/ksinstall-test\necho {name} > %{{buildroot}}/usr/share/ksinstall-test/{name}\n\
             %files\n/usr/share/ksinstall-test/{name}\n"
        ),
    )
    .unwrap();
    let out = work.join("out");
    run(Command::new("rpmbuild")
        .arg("-bb")
        .args(["--define", &format!("_topdir {}", s(&work.join("top")))])
        .args(["--define", &format!("_rpmdir {}", s(&out))])
        .arg(&spec));
    out.join(format!("noarch/{name}-{version}-1.noarch.rpm"))
}

/// `bundle build --os-family FAMILY --allow-missing` of seed-root from `from`.
fn build(from: &Path, out: &Path, family: &str) -> Manifest {
    let o = ksinstall(&[
        "bundle",
        "build",
        "--conf",
        s(&fixture("seed-root")),
        "-o",
        s(out),
        "--from",
        s(from),
        "--os-family",
        family,
        "--allow-missing",
    ]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "build failed:\n{stdout}\n{stderr}");
    Manifest::read(out).unwrap()
}

/// dnf in an install root of its own under `tmp` (its cache and logs
/// too), with `args` after the options every call shares.
fn dnf(tmp: &Path, args: &[&str]) -> String {
    run(Command::new("dnf")
        .args(["-q", "-y", "--releasever=9"])
        .arg(format!("--installroot={}", s(&tmp.join("root"))))
        .args(args))
}

/// repoquery's line per package: `name version-release`.
const QF: [&str; 2] = ["--qf", "%{name} %{version}-%{release}"];

#[test]
fn dnf_reads_the_bundles_rpm_repository_and_an_rpm_host_gets_it_all() {
    if !tools_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (from, out) = (tmp.path().join("from"), tmp.path().join("bundle"));
    std::fs::create_dir_all(&from).unwrap();
    for (name, version) in RPMS {
        let rpm = rpmbuild(tmp.path(), name, version);
        std::fs::copy(&rpm, from.join(rpm.file_name().unwrap())).unwrap();
    }
    let m = build(&from, &out, "rpm");
    assert_eq!(m.families, ["rpm"]);
    let socat = m
        .find(Kind::Rpm, "socat", "")
        .expect("socat in the manifest");
    assert_eq!(socat.path, "rpms/socat-1.7.4.1-1.noarch.rpm");
    assert!(
        m.index.iter().any(|i| i.path == "rpms/repodata/repomd.xml"),
        "{:?}",
        m.index
    );
    let want = "conntrack-tools 1.4.7-1\nsocat 1.7.4.1-1\n";

    // dnf reads the repository as built...
    let repo = format!("--repofrompath=ks,file://{}", s(&out.join("rpms")));
    let listed = dnf(
        tmp.path(),
        &[
            &[
                "--setopt=reposdir=/dev/null",
                &repo,
                "--repo=ks",
                "repoquery",
                "--available",
            ],
            &QF[..],
        ]
        .concat(),
    );
    assert_eq!(sorted(&listed), want);
    // ... and through the repository file an RPM host gets, as the
    // packages phase calls it (the bundle where the host has rpms/).
    let reposdir = tmp.path().join("yum.repos.d");
    std::fs::create_dir_all(&reposdir).unwrap();
    let file = select::YUM_REPO_FILE.rsplit('/').next().unwrap();
    std::fs::write(
        reposdir.join(file),
        select::yum_repo_file(s(&out.join("rpms"))),
    )
    .unwrap();
    let only_ours = [
        format!("--setopt=reposdir={}", s(&reposdir)),
        "--disablerepo=*".to_string(),
        format!("--enablerepo={}", select::YUM_REPO_ID),
    ];
    let only_ours: Vec<&str> = only_ours.iter().map(String::as_str).collect();
    let listed = dnf(
        tmp.path(),
        &[&only_ours[..], &["repoquery", "--available"], &QF].concat(),
    );
    assert_eq!(sorted(&listed), want);
    installs_as_root(tmp.path(), &only_ours);

    // An RPM host's part: every RPM and the repodata, under rpms/.
    let c = cluster(&fixture("seed-root"));
    let opts = PlanOptions {
        families: vec![Family::Rpm],
        ..PlanOptions::default()
    };
    let plan = needs::plan(&c, &opts).unwrap();
    let sel = select::for_host(&m, &plan, "node1");
    assert_eq!(
        sel.packages,
        ["socat", "conntrack-tools"],
        "the plan's order"
    );
    assert!(
        sel.missing.iter().any(|n| n.name == "containerd.io"),
        "{:?}",
        sel.missing
    );
    let p = select::host_payload(&out, &sel, 0, &mut Default::default()).unwrap();
    let files: Vec<&str> = p.repo_files.iter().map(|(f, _)| f.as_str()).collect();
    for f in [
        "rpms/socat-1.7.4.1-1.noarch.rpm",
        "rpms/conntrack-tools-1.4.7-1.noarch.rpm",
        "rpms/repodata/repomd.xml",
    ] {
        assert!(files.contains(&f), "{f} not in {files:?}");
    }
    assert_eq!(
        files
            .iter()
            .filter(|f| f.starts_with("rpms/repodata/"))
            .count(),
        m.index
            .iter()
            .filter(|i| i.path.starts_with("rpms/repodata/"))
            .count()
    );
    the_install_takes_the_rpms_for_the_rpm_host(&out);
}

/// dnf's lines (`QF`), sorted.
fn sorted(listed: &str) -> String {
    let mut lines: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// As root, dnf installs both packages from that repository alone into
/// the install root, as the packages phase runs it on a host.
fn installs_as_root(tmp: &Path, only_ours: &[&str]) {
    let root = run(Command::new("id").arg("-u"));
    if root.trim() != "0" {
        eprintln!("not root: dnf's install into an install root is not tried");
        return;
    }
    let names: Vec<&str> = RPMS.iter().map(|(n, _)| *n).collect();
    dnf(tmp, &[only_ours, &["install"], &names[..]].concat());
    let installed = run(Command::new("rpm")
        .arg(format!("--root={}", s(&tmp.join("root"))))
        .args(["-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\n"])
        .args(&names));
    assert_eq!(installed, "socat 1.7.4.1-1\nconntrack-tools 1.4.7-1\n");
}

/// What the install loads from that bundle: the RPM host gets the RPM
/// names and the repository (an RPM it has at that version stays behind),
/// a Debian host of the same cluster is told the bundle has no debs.
fn the_install_takes_the_rpms_for_the_rpm_host(bundle: &Path) {
    let c = cluster(&fixture("seed-root"));
    let facts = BTreeMap::from([(
        "node1".to_string(),
        Facts::parse("os_id=centos\nos_like=rhel fedora\nrpms=socat=1.7.4.1-1|\n"),
    )]);
    let mut r = Report::default();
    let off = ksinstall::install::offline::load(bundle, &c, &facts, false, None, &mut r).unwrap();
    assert_eq!(off.packages["node1"], ["socat", "conntrack-tools"]);
    let files: Vec<&str> = off.repo_files["node1"]
        .iter()
        .map(|(f, _)| f.as_str())
        .collect();
    assert!(
        files.contains(&"rpms/conntrack-tools-1.4.7-1.noarch.rpm"),
        "{files:?}"
    );
    assert!(files.contains(&"rpms/repodata/repomd.xml"), "{files:?}");
    assert!(
        !files.iter().any(|f| f.contains("socat")),
        "installed: {files:?}"
    );
    let node2 = missing_for(&r, "'node2'");
    assert!(
        node2.contains("socat") && node2.contains("conntrack,"),
        "{node2}"
    );
    assert!(node2.contains("--os-family deb or both"), "{node2}");
}

/// The BundleMissing message about `host`.
fn missing_for(r: &Report, host: &str) -> String {
    (r.errors())
        .find(|d| d.name == "BundleMissing" && d.message.starts_with(host))
        .unwrap_or_else(|| panic!("no BundleMissing for {host}: {}", r.render()))
        .message
        .clone()
}

/// A bundle built for Debian hosts only, and an RPM host: the install
/// names the host, its RPMs, and how to build a bundle that has them.
/// (No RPM tool is needed for this one.)
#[test]
fn an_rpm_host_and_a_bundle_without_rpms() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    let plan = plan_of(&fixture("seed-root"));
    populate(&from, &plan, &[Kind::Deb]);
    let out = tmp.path().join("bundle");
    build(&from, &out, "deb");
    let c = cluster(&fixture("seed-root"));
    let facts = BTreeMap::from([(
        "node1".to_string(),
        Facts::parse("os_id=rocky\nos_like=rhel centos fedora\n"),
    )]);
    let mut r = Report::default();
    let off = ksinstall::install::offline::load(&out, &c, &facts, false, None, &mut r).unwrap();
    let node1 = missing_for(&r, "'node1'");
    assert!(
        node1.contains("socat, conntrack-tools,") && node1.contains("--os-family rpm or both"),
        "{node1}"
    );
    assert!(off.packages["node1"].is_empty(), "{:?}", off.packages);
    // The Debian hosts have theirs.
    assert!(off.packages["node2"].contains(&"conntrack".to_string()));
    assert!(!r.render().contains("'node2' needs"), "{}", r.render());
}
