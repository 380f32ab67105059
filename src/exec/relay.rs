//! The bundle's files over plain HTTP, by their SHA-256: the taskbox
//! serves them to the first hosts, and each host that holds a file serves
//! it to the next (`ksinstall-relay`, this module in a binary of its own
//! with nothing but std, so it runs on any glibc host). Nothing here is
//! trusted: every file is checked against its digest on arrival, and only
//! the bundle's public artifacts (packages, binaries, images) are ever
//! served, never a secret. Only `GET /cas/<64 hex digits>` is answered.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where each host keeps the bundle files it received, by digest: the
/// relay serves from here, and an upload of the same content copies it
/// from here instead of sending it (`Engine::upload`).
pub const CAS_DIR: &str = "/var/lib/ksinstall/cas";

/// How many requests one server answers at once; more wait in the kernel's
/// accept queue (the scheduler never asks more than this of one source).
pub const MAX_ACTIVE: usize = 8;

/// A file's digest as a URL path component: exactly 64 lower-case hex.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a digest's file is, if the server has it.
pub type Lookup = Arc<dyn Fn(&str) -> Option<PathBuf> + Send + Sync>;

/// What a server has answered, for the figures.
#[derive(Default)]
pub struct Served {
    pub bytes: AtomicU64,
    pub files: AtomicU64,
    active: AtomicUsize,
    /// Seconds since start of the last request's end (idle detection).
    last: AtomicU64,
}

/// Answers `GET /cas/<digest>` from `lookup` until `stop` says so (checked
/// every 200 ms). Each connection has a thread of its own.
pub fn serve(
    listener: TcpListener,
    lookup: Lookup,
    served: Arc<Served>,
    stop: impl Fn(&Served) -> bool,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let t0 = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let (lookup, served) = (lookup.clone(), served.clone());
                served.active.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = answer(stream, &*lookup, &served);
                    served.last.store(t0.elapsed().as_secs(), Ordering::SeqCst);
                    served.active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop(&served) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

impl Served {
    /// No request running, and none ended in the last `idle` (counted from
    /// `age`, the server's age in seconds).
    pub fn idle_for(&self, age: u64, idle: u64) -> bool {
        self.active.load(Ordering::SeqCst) == 0
            && age.saturating_sub(self.last.load(Ordering::SeqCst)) >= idle
    }
}

/// One request: the file, or 404 / 400 / 503.
fn answer(
    stream: TcpStream,
    lookup: &dyn Fn(&str) -> Option<PathBuf>,
    served: &Served,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // The headers are read and ignored.
    let mut h = String::new();
    while reader.read_line(&mut h)? > 2 {
        h.clear();
    }
    let mut out = stream;
    if served.active.load(Ordering::SeqCst) > MAX_ACTIVE {
        return out.write_all(b"HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n");
    }
    let mut words = line.split_whitespace();
    let path = match (words.next(), words.next()) {
        (Some("GET"), Some(p)) => p,
        _ => return out.write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
    };
    let file = (path.strip_prefix("/cas/"))
        .filter(|d| is_digest(d))
        .and_then(lookup)
        .and_then(|p| std::fs::File::open(p).ok());
    let Some(mut file) = file else {
        return out.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    };
    let len = file.metadata()?.len();
    write!(
        out,
        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    )?;
    let n = std::io::copy(&mut file, &mut out)?;
    served.bytes.fetch_add(n, Ordering::Relaxed);
    served.files.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// `GET http://<addr>/cas/<digest>` into `out`: the body, whole (its
/// Content-Length), or an error naming what went wrong.
pub fn get(addr: &str, digest: &str, out: &mut impl Write) -> Result<u64, String> {
    let err = |e: std::io::Error| format!("{addr}: {e}");
    let to = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(err)?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    // A firewalled port drops the SYN: give up in seconds, not minutes.
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(err)?;
    write!(s, "GET /cas/{digest} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(err)?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).map_err(err)?;
    let mut len = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).map_err(err)? <= 2 {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<u64>().ok();
            }
        }
    }
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{addr}: {}", status.trim()));
    }
    let n = std::io::copy(&mut r.take(len.unwrap_or(u64::MAX)), out).map_err(err)?;
    match len {
        Some(l) if l != n => Err(format!(
            "{addr}: {n} of {l} bytes, then the connection closed"
        )),
        _ => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_by_digest_only() {
        let dir = std::env::temp_dir().join(format!("ksi-relay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = "a".repeat(64);
        std::fs::write(dir.join(&d), b"hello").unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let root = dir.clone();
        let lookup: Lookup = Arc::new(move |d: &str| Some(root.join(d)).filter(|p| p.is_file()));
        let served = Arc::new(Served::default());
        let s2 = served.clone();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = done.clone();
        let t =
            std::thread::spawn(move || serve(l, lookup, s2, move |_| d2.load(Ordering::SeqCst)));
        let mut body = Vec::new();
        assert_eq!(get(&addr, &d, &mut body), Ok(5));
        assert_eq!(body, b"hello");
        let e = get(&addr, &"b".repeat(64), &mut Vec::new()).unwrap_err();
        assert!(e.contains("404"), "{e}");
        let e = get(&addr, "../etc/passwd", &mut Vec::new()).unwrap_err();
        assert!(e.contains("404"), "{e}");
        done.store(true, Ordering::SeqCst);
        t.join().unwrap().unwrap();
        assert_eq!(served.bytes.load(Ordering::SeqCst), 5);
        std::fs::remove_dir_all(&dir).ok();
    }
}
