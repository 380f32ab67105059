//! Helpers for the bundle tests: small stand-ins for packages, binaries and
//! image tarballs, the CLI, and a loopback HTTP server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ksinstall::bundle::{needs, Kind, Plan};

pub fn ksinstall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ksinstall"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KSINSTALL_HOME")
        .output()
        .expect("runs the binary")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The cluster of a fixture conf directory.
pub fn cluster(conf: &Path) -> ksinstall::model::Cluster {
    let mut r = ksinstall::diag::Report::default();
    let src = ksinstall::model::Sources {
        conf_dir: conf.to_path_buf(),
        inventory: None,
        mode: ksinstall::model::Mode::MultiNode,
    };
    let c = ksinstall::model::load(&src, &mut r).expect("fixture loads");
    assert!(!r.has_errors(), "{}", r.render());
    c
}

pub fn plan_of(conf: &Path) -> Plan {
    needs::plan(&cluster(conf), &needs::PlanOptions::default()).expect("plan")
}

fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// A minimal real `.deb` (dpkg-deb accepts it) with the given control fields.
pub fn fake_deb(
    dir: &Path,
    name: &str,
    version: &str,
    arch: &str,
    extra: &[(&str, &str)],
) -> PathBuf {
    let mut control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@example.org>\nInstalled-Size: 1\n"
    );
    for (k, v) in extra {
        control.push_str(&format!("{k}: {v}\n"));
    }
    control.push_str(&format!(
        "Description: test package {name}\n stand-in for the bundle tests\n"
    ));
    let control_tar = tar_gz(&[("./control", control.as_bytes())]);
    let data_tar = tar_gz(&[(&format!("./usr/share/doc/{name}/README"), b"test\n")]);
    let file = version.split_once(':').map(|(_, v)| v).unwrap_or(version);
    let path = dir.join(format!("{name}_{file}_{arch}.deb"));
    let f = std::fs::File::create(&path).unwrap();
    let mut ar = ar::Builder::new(f);
    for (member, data) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar.gz", &control_tar[..]),
        ("data.tar.gz", &data_tar[..]),
    ] {
        let mut h = ar::Header::new(member.as_bytes().to_vec(), data.len() as u64);
        h.set_mode(0o100644);
        ar.append(&h, data).unwrap();
    }
    path
}

pub fn elf_bytes(tag: &str) -> Vec<u8> {
    let mut v = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    v.extend_from_slice(tag.as_bytes());
    v
}

pub fn gz_bytes(tag: &str) -> Vec<u8> {
    tar_gz(&[("README", tag.as_bytes())])
}

/// A docker-archive tarball (the shape `docker save` writes) tagged `reference`.
pub fn image_bytes(reference: &str) -> Vec<u8> {
    let manifest =
        format!("[{{\"Config\":\"cfg.json\",\"RepoTags\":[\"{reference}\"],\"Layers\":[]}}]");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("cfg.json", &b"{}"[..]),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Stand-ins for every artifact of `plan` in `dir` (kinds in `kinds`).
pub fn populate(dir: &Path, plan: &Plan, kinds: &[Kind]) {
    std::fs::create_dir_all(dir).unwrap();
    for n in &plan.needs {
        if !kinds.contains(&n.kind) {
            continue;
        }
        match n.kind {
            Kind::Deb => {
                fake_deb(dir, &n.name, "1.0-1", "amd64", &[]);
            }
            Kind::Binary => {
                let data = if n.file_name().ends_with("gz") {
                    gz_bytes(&n.name)
                } else {
                    elf_bytes(&n.name)
                };
                std::fs::write(dir.join(n.file_name()), data).unwrap();
            }
            Kind::Image => std::fs::write(dir.join(n.file_name()), image_bytes(&n.name)).unwrap(),
            Kind::Rpm => {}
        }
    }
}

/// `[ERROR Name]` lines of an output.
pub fn errors<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let tag = format!("[ERROR {name}]");
    out.lines().filter(|l| l.contains(&tag)).collect()
}

/// A loopback HTTP/1.1 server: fixed routes, `Connection: close`, runs on
/// its own thread until dropped (or 120 s at most), counts its requests.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    pub hits: Arc<AtomicUsize>,
    pub log: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

pub type Routes = BTreeMap<String, (u16, Vec<u8>)>;

impl Server {
    pub fn start(routes: Routes) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, h, l) = (stop.clone(), hits.clone(), log.clone());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        serve(stream, &routes, &l);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            port,
            stop,
            hits,
            log,
            handle: Some(handle),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(stream: TcpStream, routes: &Routes, log: &Mutex<Vec<String>>) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => headers.push(h.trim_end().to_string()),
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(path.clone());
    // A request with the test token is served the `AUTHED <path>` route when there is one.
    let authed = headers.iter().any(|h| {
        h.to_ascii_lowercase()
            .starts_with("authorization: bearer good-token")
    });
    let (code, mut body) = routes
        .get(&format!("AUTHED {path}"))
        .filter(|_| authed)
        .or_else(|| routes.get(&path))
        .cloned()
        .unwrap_or((404, b"404 page not found\n".to_vec()));
    // A 401 route's body is the WWW-Authenticate challenge ({base} = this server).
    let mut extra = String::new();
    if code == 401 {
        let port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
        let challenge =
            String::from_utf8_lossy(&body).replace("{base}", &format!("http://127.0.0.1:{port}"));
        extra = format!("WWW-Authenticate: {challenge}\r\n");
        body = b"unauthorized\n".to_vec();
    }
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut s = stream;
    let _ = write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(&body);
    let _ = s.flush();
    let mut sink = [0u8; 64];
    let _ = (&s).take(0).read(&mut sink);
}

pub fn sha256_hex(data: &[u8]) -> String {
    ksinstall::bundle::hash::sha256_bytes(data)
}
