//! Workload W of scripts/bench-fanout.sh, run by the ksinstall engine.
//! Not a timed test: the script times this program from outside.
//!
//! usage: fanout INVENTORY FILES_DIR KNOWN_HOSTS [FORKS]
//!
//! On every host, with sudo (become root): mkdir, upload the 3 files of
//! FILES_DIR, run 5 short commands collecting their output; then the same
//! again, which must change nothing. Task by task across hosts (a barrier
//! per task), as a playbook would run it; one connection, one auth and
//! one privileged shell per host for the whole run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use ksinstall::adhoc::node_from_inventory;
use ksinstall::exec::engine::redactor_for;
use ksinstall::exec::*;

fn main() -> ExitCode {
    let dir = std::env::var("KSI_BENCH_DIR").unwrap_or_else(|_| "/tmp/ksi-bench".to_string());
    let dir = dir.as_str();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.is_empty() || args[0].starts_with('-') {
        // `cargo test --all-targets` runs benches once without arguments
        // (or with the test harness's, such as `--skip NAME`): the workload
        // needs a lab, which scripts/bench-fanout.sh provides.
        eprintln!("fanout: nothing to do without arguments (run scripts/bench-fanout.sh)");
        return ExitCode::SUCCESS;
    }
    if args.len() < 3 {
        eprintln!("usage: fanout INVENTORY FILES_DIR KNOWN_HOSTS [FORKS]");
        return ExitCode::from(2);
    }
    let inv = ksinstall::inventory::ini::load(&PathBuf::from(&args[0])).expect("inventory");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&args[1])
        .expect("files dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    let kh = Arc::new(
        KnownHosts::load(&PathBuf::from(&args[2]), HostKeyPolicy::TrustOnFirstUse).unwrap(),
    );
    let mut opts = EngineOptions::new(ConnectOptions::new(kh));
    opts.connect.use_agent = false;
    opts.connect.default_keys = false;
    if let Some(f) = args.get(3) {
        opts.forks = f.parse().expect("forks");
    }
    let hosts = ksinstall::adhoc::select(&inv, None, None).unwrap();
    let nodes: Vec<_> = (0..inv.hosts.len())
        .map(|h| node_from_inventory(&inv, h, true))
        .collect();
    let r = redactor_for(&nodes, &opts.connect);
    let engine = Engine::new(
        nodes,
        opts,
        RunLog::disabled(r.clone()),
        Progress::new(r, true, false),
    )
    .unwrap();
    let mut failed = 0;
    for pass in 1..=2 {
        let t0 = Instant::now();
        let mut changed = 0;
        let mut check = |rep: StepReport| {
            for h in &rep.hosts {
                match h.status {
                    Status::Changed => changed += 1,
                    Status::Ok => {}
                    _ => {
                        failed += 1;
                        eprintln!(
                            "{} {}: {} {}",
                            rep.step,
                            h.host,
                            h.status.label(),
                            h.message
                        );
                    }
                }
            }
        };
        check(engine.step("mkdir", &hosts, |h| {
            if h.query(&format!("test -d {dir}"), None)?.rc != 0 {
                h.exec(&format!("mkdir -p {dir}"), None)?;
            }
            Ok(())
        }));
        for (name, data) in &files {
            let dest = format!("{dir}/{name}");
            check(engine.step("upload", &hosts, |h| {
                h.upload(data, &dest, Some(0o644), None)?;
                Ok(())
            }));
        }
        let names: Vec<String> = files.iter().map(|(n, _)| format!("{dir}/{n}")).collect();
        let commands = [
            "hostname".to_string(),
            "cat /etc/os-release".to_string(),
            format!("sha256sum {}", names.join(" ")),
            format!("test -f {}", names[0]),
            "uname -r".to_string(),
        ];
        for c in &commands {
            check(engine.step("command", &hosts, |h| {
                let o = h.query(c, None)?;
                if o.rc != 0 {
                    return Err(HostFail::Failed(format!("{c}: rc={}", o.rc)));
                }
                Ok(())
            }));
        }
        eprintln!(
            "pass {pass}: {:.3}s, {changed} changed",
            t0.elapsed().as_secs_f64()
        );
        if pass == 2 && changed != 0 {
            eprintln!("re-run changed {changed} things: not idempotent");
            failed += 1;
        }
    }
    engine.close_all();
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
