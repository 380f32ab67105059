//! Test fixture: a real sshd on 127.0.0.1 (high port, throwaway config,
//! host key and users), a TCP proxy that can be frozen or killed to cut a
//! link mid-run, and helpers. Needs root; without it tests print
//! "skipped: needs root" and pass. Network: loopback only.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ksinstall::exec::*;
use ksinstall::model::{Become, Connection, Node, Secret, SshTarget};

pub const SUDO_USER: &str = "ksi_sudo";
pub const NOSUDO_USER: &str = "ksi_nosudo";
pub const TTY_USER: &str = "ksi_tty";
pub const PASSPHRASE: &str = "kpp-Passphrase-42";

pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    /// Password of every test user (random per run).
    pub password: String,
    /// ed25519 key without passphrase, and one with PASSPHRASE.
    pub key_plain: PathBuf,
    pub key_pass: PathBuf,
    pub host_key_pub: PathBuf,
    pid: u32,
}

static SSHD: OnceLock<Option<Sshd>> = OnceLock::new();
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

extern "C" fn cleanup() {
    if let Ok(pids) = PIDS.lock() {
        for &p in pids.iter() {
            unsafe {
                libc::kill(p as i32, libc::SIGTERM);
            }
        }
    }
    let _ = std::fs::remove_file("/etc/sudoers.d/ksinstall-test");
}

/// Remembers a process to kill (by PID) when the test binary exits.
pub fn kill_at_exit(pid: u32) {
    PIDS.lock().unwrap().push(pid);
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The shared sshd, or None (with the skip message printed) without root.
pub fn sshd() -> Option<&'static Sshd> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    SSHD.get_or_init(|| Some(start_sshd(900))).as_ref()
}

/// Moves the calling thread (and so the threads and processes it starts
/// from now on: sshd, proxies, the engine's pool) into a network namespace
/// of its own whose loopback has this MTU. The default loopback's MTU of
/// 65536 lets socket send buffers grow past the SSH window (2 MB), so a
/// writer waits on the window and never in the middle of a packet; with
/// 1500, as on a real link (the lab's veths), the socket fills first.
/// Traffic stays on 127.0.0.0/8 of that namespace. False (with a message)
/// where namespaces cannot be made.
pub fn private_loopback(mtu: u32) -> bool {
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!(
            "no private network namespace ({}): default loopback",
            std::io::Error::last_os_error()
        );
        return false;
    }
    let ok = Command::new("ip")
        .args(["link", "set", "lo", "mtu", &mtu.to_string(), "up"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cannot set up lo in the new network namespace");
    true
}

/// A separate sshd of its own, alive for at most `lifetime_secs` (or until
/// the test binary exits), for long runs such as the stress test. Needs root.
pub fn own_sshd(lifetime_secs: u64) -> Sshd {
    assert!(is_root(), "needs root");
    start_sshd(lifetime_secs)
}

fn sh(cmd: &str) {
    let st = Command::new("/bin/sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "failed: {cmd}");
}

fn sh_stdin(cmd: &str, input: &str) {
    let mut c = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "failed: {cmd}");
}

pub fn random_alnum(n: usize) -> String {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    const A: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    b.iter().map(|x| A[*x as usize % A.len()] as char).collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Creates the test users and their sudoers drop-in once per test binary
/// (every sshd of the binary shares them); returns their password.
fn test_users() -> &'static str {
    static PASSWORD: OnceLock<String> = OnceLock::new();
    PASSWORD.get_or_init(|| {
        let password = format!("Pw{}", random_alnum(14));
        for u in [SUDO_USER, NOSUDO_USER, TTY_USER] {
            sh(&format!(
                "id {u} >/dev/null 2>&1 || useradd -m -s /bin/bash {u}"
            ));
        }
        let lines: String = [SUDO_USER, NOSUDO_USER, TTY_USER]
            .iter()
            .map(|u| format!("{u}:{password}\n"))
            .collect();
        sh_stdin("chpasswd", &lines);
        let sudoers = format!(
            "{SUDO_USER} ALL=(ALL:ALL) ALL\nDefaults:{TTY_USER} requiretty\n{TTY_USER} ALL=(ALL:ALL) ALL\n"
        );
        std::fs::write("/etc/sudoers.d/ksinstall-test", sudoers).unwrap();
        sh("chmod 0440 /etc/sudoers.d/ksinstall-test && visudo -cq");
        password
    })
}

// The sshd is killed by PID when the test binary exits (atexit); the
// process is reaped by init after that.
#[allow(clippy::zombie_processes)]
fn start_sshd(lifetime_secs: u64) -> Sshd {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(cleanup);
    });
    let dir = tempfile::Builder::new()
        .prefix("ksi-sshd-")
        .tempdir()
        .unwrap()
        .keep();
    let d = dir.display().to_string();
    let password = test_users().to_string();
    sh(&format!(
        "mkdir -p /run/sshd {d}/auth && ssh-keygen -q -t ed25519 -N '' -f {d}/host_key && \
         ssh-keygen -q -t ed25519 -N '' -C plain -f {d}/id_plain && \
         ssh-keygen -q -t ed25519 -N '{PASSPHRASE}' -C pass -f {d}/id_pass && \
         for u in root {SUDO_USER} {NOSUDO_USER} {TTY_USER}; do cat {d}/id_plain.pub {d}/id_pass.pub > {d}/auth/$u; done"
    ));
    let port = free_port();
    let cfg = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/auth/%u\nStrictModes no\nUsePAM no\nPasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\nPermitRootLogin yes\nAllowTcpForwarding yes\n\
         MaxStartups 200:30:300\nMaxSessions 100\nMaxAuthTries 10\nLogLevel ERROR\nSubsystem sftp internal-sftp\n"
    );
    std::fs::write(dir.join("sshd_config"), cfg).unwrap();
    // Bounded: `timeout` ends it even if nothing else does.
    let child = Command::new("timeout")
        .arg(lifetime_secs.to_string())
        .args(["/usr/sbin/sshd", "-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .unwrap();
    kill_at_exit(child.id());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut b = [0u8; 4];
            if s.read_exact(&mut b).is_ok() && &b == b"SSH-" {
                break;
            }
        }
        assert!(
            Instant::now() < until,
            "sshd did not start: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Sshd {
        port,
        key_plain: dir.join("id_plain"),
        key_pass: dir.join("id_pass"),
        host_key_pub: dir.join("host_key.pub"),
        dir,
        password,
        pid: child.id(),
    }
}

impl Sshd {
    /// Ends this sshd (its `timeout` wrapper passes the signal on).
    pub fn stop(&self) {
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
    }

    pub fn target(&self, user: &str) -> SshTarget {
        SshTarget {
            address: "127.0.0.1".to_string(),
            port: self.port,
            user: user.to_string(),
            password: None,
            key_file: None,
            bastion: None,
        }
    }

    pub fn with_password(&self, user: &str) -> SshTarget {
        SshTarget {
            password: Some(Secret::new(self.password.clone())),
            ..self.target(user)
        }
    }

    pub fn root_key(&self) -> SshTarget {
        SshTarget {
            key_file: Some(self.key_plain.clone()),
            ..self.target("root")
        }
    }

    /// The sudo user, becoming root with its password.
    pub fn sudo_node(&self, name: &str) -> Node {
        let mut n = node(name, Connection::Ssh(self.with_password(SUDO_USER)));
        n.become_ = Some(Become {
            user: "root".to_string(),
            password: Some(Secret::new(self.password.clone())),
        });
        n
    }
}

pub fn node(name: &str, connection: Connection) -> Node {
    Node {
        name: name.to_string(),
        connection,
        become_: None,
        ip: None,
        access_ip: None,
        roles: vec![],
        line: None,
    }
}

pub fn ssh_node(name: &str, t: SshTarget) -> Node {
    node(name, Connection::Ssh(t))
}

/// Engine options for tests: no agent, no ~/.ssh keys, TOFU into a fresh
/// known_hosts under `dir`.
pub fn options(dir: &Path) -> EngineOptions {
    let kh = Arc::new(
        KnownHosts::load(&dir.join("known_hosts"), HostKeyPolicy::TrustOnFirstUse).unwrap(),
    );
    let mut c = ConnectOptions::new(kh);
    c.use_agent = false;
    c.default_keys = false;
    c.connect_timeout = Duration::from_secs(3);
    let mut o = EngineOptions::new(c);
    o.forks = 8;
    o.io_timeout = Duration::from_secs(5);
    o
}

pub fn engine(nodes: Vec<Node>, opts: EngineOptions, logdir: &Path) -> Engine {
    let r = redactor_for(&nodes, &opts.connect);
    let log = RunLog::create(logdir, "Test", r.clone()).unwrap();
    Engine::new(nodes, opts, log, Progress::new(r, true, false)).unwrap()
}

pub use ksinstall::exec::engine::redactor_for;

/// Runs `cmd` on every node; returns the report.
pub fn run_all(e: &Engine, cmd: &str) -> StepReport {
    let all: Vec<usize> = (0..e.nodes().len()).collect();
    let cmd = cmd.to_string();
    e.step("run", &all, move |h| match h.exec(&cmd, None)? {
        Some(o) if o.rc != 0 => Err(HostFail::Failed(format!("rc={} {}", o.rc, o.stderr_text()))),
        _ => Ok(()),
    })
}

/// The single host's outcome of a one-host step.
pub fn one(r: &StepReport) -> &HostReport {
    assert_eq!(r.hosts.len(), 1);
    &r.hosts[0]
}

/// A loopback TCP proxy to `port` whose links can be frozen (bytes stop,
/// sockets stay open: a cut cable) or killed (sockets and listener closed:
/// the host went down).
pub struct Proxy {
    pub port: u16,
    frozen: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    /// Bytes forwarded client -> server.
    pub up_bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Limit client -> server, bytes per second (0: none).
    rate: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    pub fn new(to: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let up_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let rate = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (f, k, c, ub, rt) = (
            frozen.clone(),
            killed.clone(),
            conns.clone(),
            up_bytes.clone(),
            rate.clone(),
        );
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !k.load(Ordering::SeqCst) && Instant::now() < deadline {
                match l.accept() {
                    Ok((a, _)) => {
                        a.set_nonblocking(false).unwrap();
                        let b = TcpStream::connect(("127.0.0.1", to)).unwrap();
                        c.lock().unwrap().push(a.try_clone().unwrap());
                        c.lock().unwrap().push(b.try_clone().unwrap());
                        for (mut from, mut to, count) in [
                            (a.try_clone().unwrap(), b.try_clone().unwrap(), true),
                            (b, a, false),
                        ] {
                            let (f, ub, rt) = (f.clone(), ub.clone(), rt.clone());
                            std::thread::spawn(move || {
                                let mut buf = [0u8; 16384];
                                loop {
                                    let n = match from.read(&mut buf) {
                                        Ok(0) | Err(_) => break,
                                        Ok(n) => n,
                                    };
                                    while f.load(Ordering::SeqCst) {
                                        std::thread::sleep(Duration::from_millis(50));
                                    }
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                    if count {
                                        ub.fetch_add(n as u64, Ordering::SeqCst);
                                        let r = rt.load(Ordering::SeqCst);
                                        if let Some(ns) = (n as u64 * 1_000_000_000).checked_div(r)
                                        {
                                            std::thread::sleep(Duration::from_nanos(ns));
                                        }
                                    }
                                }
                                let _ = to.shutdown(Shutdown::Write);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy {
            port,
            frozen,
            killed,
            conns,
            up_bytes,
            rate,
        }
    }

    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Limits client -> server to `bytes_per_sec` (0: no limit): a slow link.
    pub fn throttle(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Lets bytes flow again after `freeze`.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// Cuts the open connections (a reset link); new ones are accepted.
    pub fn cut_links(&self) {
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Let the accept loop notice and drop the listener.
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.frozen.store(false, Ordering::SeqCst);
        self.kill();
    }
}
