//! Stress: large uploads to several hosts at once, through the real engine
//! (`Engine::step` + `HostCtx::upload`) and a real sshd of its own on
//! 127.0.0.1 (root key login, throwaway host key; loopback only). Not part
//! of the regular run (`#[ignore]`, and it needs root):
//!
//! ```text
//! cargo test --release --test exec_stress -- --ignored --nocapture
//! ```
//!
//! Knobs (environment): `KSI_STRESS_ROUNDS` (200), `KSI_STRESS_HOSTS` (3),
//! `KSI_STRESS_MIN_MB` (25), `KSI_STRESS_MAX_MB` (100),
//! `KSI_STRESS_KEEPALIVE` (the engine's keepalive setting, seconds; 2),
//! `KSI_STRESS_MTU` (1500; 0 for the default loopback),
//! `KSI_STRESS_FRESH` (1; 0 keeps one connection per host for the run).
//!
//! It runs in a network namespace of its own whose loopback has a real
//! link's MTU (see `private_loopback`: with lo's 65536 the socket buffers
//! outgrow the SSH window and writes never stall mid-packet). With
//! `KSI_STRESS_FRESH`, each round is what an install does on a host:
//! connect, run a command, go on a little later (longer than the
//! keepalive interval) with a large upload on that young connection.
//! Each round uploads one new content of MIN..MAX MB to every host at once;
//! it prints the count of failed uploads by kind and message, and of the
//! connection losses the engine's upload retry covered, and fails if there
//! was any of either.

mod exec_support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use exec_support::*;
use ksinstall::exec::*;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "stress run: minutes of CPU; run with --ignored"]
fn stress_large_uploads_to_several_hosts() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let rounds = knob("KSI_STRESS_ROUNDS", 200);
    let hosts = knob("KSI_STRESS_HOSTS", 3) as usize;
    let min_mb = knob("KSI_STRESS_MIN_MB", 25);
    let max_mb = knob("KSI_STRESS_MAX_MB", 100).max(min_mb);
    let keepalive = knob("KSI_STRESS_KEEPALIVE", 2);
    let mtu = knob("KSI_STRESS_MTU", 1500);
    let fresh = knob("KSI_STRESS_FRESH", 1) != 0;
    let private = mtu > 0 && private_loopback(mtu as u32);
    // Bounded: the sshd ends by itself after 3 hours at the latest.
    let s = own_sshd(3 * 3600);
    let work = tempfile::tempdir().unwrap();
    // Destinations on tmpfs when there is one: 37 GB go through a run.
    let shm = std::path::Path::new("/dev/shm");
    let dests = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("ksi-stress-")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let nodes: Vec<_> = (0..hosts)
        .map(|i| ssh_node(&format!("host{}", i + 1), s.root_key()))
        .collect();
    let make_engine = || {
        let mut o = options(work.path());
        // The engine's own defaults, not the short ones of the fast tests.
        o.connect.connect_timeout = Duration::from_secs(10);
        o.connect.keepalive = Duration::from_secs(keepalive);
        o.io_timeout = Duration::from_secs(30);
        engine(nodes.clone(), o, work.path())
    };
    // Pseudo-random content, changed at each round so that every upload
    // sends its bytes (an unchanged file is not sent again).
    let mut data = vec![0u8; (max_mb * 1_000_000) as usize];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    let all: Vec<usize> = (0..hosts).collect();
    let mut e = make_engine();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = 0usize;
    let mut changed = 0usize;
    let mut bytes = 0u64;
    let mut reconnects = 0usize;
    // Uploads that lost their connection and succeeded on the engine's
    // one retry: losses all the same.
    let mut retries = 0usize;
    let t0 = Instant::now();
    for round in 0..rounds {
        let span = max_mb - min_mb + 1;
        let size = ((min_mb + (round * 37 + 11) % span) * 1_000_000 + round * 4099) as usize;
        let size = size.min(data.len());
        data[..8].copy_from_slice(&round.to_le_bytes());
        let body = &data[..size];
        if fresh && round > 0 {
            retries += e.retries();
            e = make_engine();
        }
        if fresh {
            let r = e.step("warm", &all, |h| {
                h.query("true", None)?;
                Ok(())
            });
            assert!(r.all_ok(), "{r:?}");
            std::thread::sleep(Duration::from_millis(keepalive * 1000 + 300));
        }
        let results = Mutex::new(Vec::new());
        let r = e.step("upload", &all, |h| {
            let dest = format!("{}/{}/blob", dests.path().display(), h.node().name);
            let c = h.upload(body, &dest, Some(0o600), None)?;
            results.lock().unwrap().push(c);
            Ok(())
        });
        let mut broken = false;
        for h in &r.hosts {
            match h.status {
                Status::Changed => {
                    changed += 1;
                    bytes += size as u64;
                }
                st => {
                    failed += 1;
                    broken = true;
                    let key = format!(
                        "{} {}: {}",
                        st.label(),
                        h.kind.unwrap_or("-"),
                        h.message.replace(&h.host, "HOST")
                    );
                    eprintln!("round {round} {}: {key}", h.host);
                    *failures.entry(key).or_default() += 1;
                }
            }
        }
        if broken && !fresh {
            // A lost host is skipped by later steps: start afresh.
            retries += e.retries();
            e = make_engine();
            reconnects += 1;
        }
        if round % 10 == 9 {
            eprintln!(
                "stress: {} rounds, {changed} uploads ok, {failed} failed, {:.0} s",
                round + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    retries += e.retries();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "stress: {rounds} rounds x {hosts} hosts, {min_mb}-{max_mb} MB each, keepalive setting {keepalive} s, \
         loopback MTU {}, {} connections: \
         {changed} uploads ok ({:.1} GB), {failed} failed, {retries} connection losses retried, \
         {reconnects} engines restarted after a loss, {secs:.0} s",
        if private { mtu.to_string() } else { "65536".to_string() },
        if fresh { "fresh" } else { "lasting" },
        bytes as f64 / 1e9
    );
    for (k, n) in &failures {
        println!("  {n:>4} x {k}");
    }
    assert_eq!(failed, 0, "failed uploads: {failures:#?}");
    assert_eq!(retries, 0, "connections lost (uploads retried)");
}
