//! `ksinstall-relay`: put on each host by `install --serve-bundle`, it
//! serves the files the host holds in its cache to the next hosts, and
//! fetches them from the taskbox or another host (`src/exec/relay.rs`).
//! It uses only std, so the binary runs wherever the host has a glibc.
//!
//!   ksinstall-relay serve DIR PORT_FILE IDLE_SECS MAX_SECS
//!       answers GET /cas/<digest> from DIR/<digest> on a port the kernel
//!       picks (written to PORT_FILE); ends after IDLE_SECS without a
//!       request, or MAX_SECS in all
//!   ksinstall-relay get HOST:PORT DIGEST...
//!       each file into `.<digest>.part` in the current directory, one
//!       after another over one process (the caller checks the digests
//!       and renames); exit 3 when the source fails, the part removed

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

// The module itself, not the library: the binary stays a few hundred KB
// of std, small enough to put on every host.
#[allow(dead_code)]
#[path = "../exec/relay.rs"]
mod relay;

fn serve(args: &[String]) -> Result<(), String> {
    let [dir, port_file, idle, max] = args else {
        return Err("usage: serve DIR PORT_FILE IDLE_SECS MAX_SECS".into());
    };
    let secs = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
    let (idle, max) = (secs(idle)?, secs(max)?);
    let l = TcpListener::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let tmp = format!("{port_file}.tmp");
    std::fs::write(&tmp, format!("{port}\n")).map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, port_file).map_err(|e| format!("{port_file}: {e}"))?;
    let root = PathBuf::from(dir);
    let lookup = Arc::new(move |d: &str| Some(root.join(d)).filter(|p| p.is_file()));
    let t0 = Instant::now();
    let stop = move |s: &relay::Served| {
        let age = t0.elapsed().as_secs();
        age >= max || s.idle_for(age, idle)
    };
    relay::serve(l, lookup, Arc::new(relay::Served::default()), stop).map_err(|e| e.to_string())
}

fn get(args: &[String]) -> Result<(), String> {
    let Some((addr, digests)) = args.split_first() else {
        return Err("usage: get HOST:PORT DIGEST...".into());
    };
    for d in digests {
        if !relay::is_digest(d) {
            return Err(format!("{d}: not a sha256 digest"));
        }
        let part = format!(".{d}.part");
        let file = std::fs::File::create(&part).map_err(|e| format!("{part}: {e}"))?;
        let mut out = std::io::BufWriter::new(file);
        let got =
            relay::get(addr, d, &mut out).and_then(|_| out.flush().map_err(|e| e.to_string()));
        if let Err(e) = got {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("get") => get(&args[1..]),
        _ => Err("usage: ksinstall-relay serve|get ...".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ksinstall-relay: {e}");
            // The source failed (the caller gives up on it, not the host).
            ExitCode::from(3)
        }
    }
}
