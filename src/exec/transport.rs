//! Connectors: how bytes reach a host. An SSH session (direct, or through a
//! bastion's `direct-tcpip` channel bridged to a socketpair), or a local
//! `/bin/sh`. Either way the rest of the engine sees one [`Pipe`]: a
//! byte stream to a shell process on the host (see `shell.rs`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ssh2::{Channel, ExtendedData, KeyboardInteractivePrompt, MethodType, Prompt, Session};

use super::error::ExecError;
use super::knownhosts::{algorithms_for, KnownHosts};
use crate::model::{Secret, SshTarget};

/// Key exchange preferences: curve25519 first. With OpenSSH's default
/// order a handshake costs ~242 ms on the reference hosts against ~158 ms
/// with curve25519-sha256. libssh2 drops names it does not support.
const KEX_PREFS: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1";
const HOSTKEY_PREFS: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa";
const CIPHER_PREFS: &str = "aes128-ctr,aes256-ctr,aes192-ctr,aes128-cbc,aes256-cbc";

/// How to connect; shared by every worker of a run.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Limit for TCP connect, and separately for the SSH handshake + auth.
    pub connect_timeout: Duration,
    /// Keepalive interval; a link that stops acknowledging for
    /// `TCP_USER_TIMEOUT` (3 intervals) is declared dead by the kernel.
    pub keepalive: Duration,
    pub known_hosts: Arc<KnownHosts>,
    /// Passphrase for encrypted private key files.
    pub key_passphrase: Option<Secret>,
    /// Try the ssh-agent (at `agent_socket`, else `$SSH_AUTH_SOCK`).
    pub use_agent: bool,
    pub agent_socket: Option<PathBuf>,
    /// Try `~/.ssh/id_{ed25519,ecdsa,rsa}` when no key file is configured.
    pub default_keys: bool,
}

impl ConnectOptions {
    pub fn new(known_hosts: Arc<KnownHosts>) -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            known_hosts,
            key_passphrase: None,
            use_agent: true,
            agent_socket: None,
            default_keys: true,
        }
    }
}

/// An authenticated SSH session, plus whatever keeps its transport alive.
pub struct SshConn {
    pub session: Session,
    pub addr: String,
    /// Set when reached through a bastion: the pump thread owning the
    /// bastion's session; it ends when `session` drops its socket end.
    _bridge: Option<JoinHandle<()>>,
}

impl Drop for SshConn {
    fn drop(&mut self) {
        let _ = self.session.disconnect(None, "bye", None);
    }
}

fn io_kind_error(e: &io::Error, addr: &str, timeout: Duration) -> ExecError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ExecError::Refused {
            addr: addr.to_string(),
        },
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ExecError::TimedOut {
            addr: addr.to_string(),
            what: "TCP connect".to_string(),
            secs: timeout.as_secs().max(1),
        },
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::EHOSTDOWN) => {
                ExecError::NoRoute {
                    addr: addr.to_string(),
                    detail: e.to_string(),
                }
            }
            _ => ExecError::ConnectionLost {
                detail: format!("connecting to {addr}: {e}"),
            },
        },
    }
}

fn tcp_connect(target: &SshTarget, opts: &ConnectOptions) -> Result<TcpStream, ExecError> {
    let addr = format!("{}:{}", target.address, target.port);
    let addrs: Vec<SocketAddr> = (target.address.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| ExecError::Resolve {
            addr: target.address.clone(),
            detail: e.to_string(),
        })?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, opts.connect_timeout) {
            Ok(s) => {
                tune_socket(&s, opts);
                return Ok(s);
            }
            Err(e) => last = Some(io_kind_error(&e, &addr, opts.connect_timeout)),
        }
    }
    Err(last.unwrap_or(ExecError::Resolve {
        addr: target.address.clone(),
        detail: "no address".to_string(),
    }))
}

/// TCP_NODELAY: SSH writes small packets and waits for answers; with Nagle
/// and delayed ACKs a fresh connection loses ~80 ms in waits.
/// TCP_USER_TIMEOUT: a cut link shows up as an error instead of a hang.
fn tune_socket(s: &TcpStream, opts: &ConnectOptions) {
    let _ = s.set_nodelay(true);
    let ms: libc::c_uint = (opts.keepalive.as_millis() as libc::c_uint)
        .saturating_mul(3)
        .max(5000);
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            &ms as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        );
    }
}

fn ssh_error_is_timeout(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(-9)
}

/// Connects and authenticates to `target` (through its bastion if any).
/// `display` names the host in errors.
pub fn connect(
    target: &SshTarget,
    display: &str,
    opts: &ConnectOptions,
) -> Result<SshConn, ExecError> {
    let addr = format!("{}:{}", target.address, target.port);
    let mut session = Session::new().map_err(|e| ExecError::Other(e.to_string()))?;
    let bridge = match &target.bastion {
        None => {
            let tcp = tcp_connect(target, opts)?;
            session.set_tcp_stream(tcp);
            None
        }
        Some(b) => {
            let bconn = connect(b, &format!("bastion {}", b.address), opts)?;
            let (near, far) = UnixStream::pair()?;
            let channel = bconn
                .session
                .channel_direct_tcpip(&target.address, target.port, None)
                .map_err(|e| ExecError::NoRoute {
                    addr: addr.clone(),
                    detail: format!(
                        "bastion {} could not open a tunnel: {}",
                        b.address,
                        e.message()
                    ),
                })?;
            session.set_tcp_stream(near);
            Some(std::thread::spawn(move || pump(bconn, channel, far)))
        }
    };
    let _ = session.method_pref(MethodType::Kex, KEX_PREFS);
    let _ = session.method_pref(MethodType::CryptCs, CIPHER_PREFS);
    let _ = session.method_pref(MethodType::CryptSc, CIPHER_PREFS);
    let known: Vec<&str> = opts
        .known_hosts
        .known_types(&target.address, target.port)
        .iter()
        .flat_map(|t| algorithms_for(t).iter().copied())
        .collect();
    let hostkey_prefs = if known.is_empty() {
        HOSTKEY_PREFS.to_string()
    } else {
        known.join(",")
    };
    if session
        .method_pref(MethodType::HostKey, &hostkey_prefs)
        .is_err()
    {
        let _ = session.method_pref(MethodType::HostKey, HOSTKEY_PREFS);
    }
    session.set_timeout(opts.connect_timeout.as_millis() as u32);
    session.handshake().map_err(|e| {
        if ssh_error_is_timeout(&e) {
            ExecError::TimedOut {
                addr: addr.clone(),
                what: "SSH handshake".to_string(),
                secs: opts.connect_timeout.as_secs().max(1),
            }
        } else {
            ExecError::Handshake {
                addr: addr.clone(),
                detail: e.message().to_string(),
            }
        }
    })?;
    let (key, _) = session.host_key().ok_or_else(|| ExecError::Handshake {
        addr: addr.clone(),
        detail: "no host key".to_string(),
    })?;
    opts.known_hosts
        .check(&target.address, target.port, display, key)?;
    authenticate(&session, target, &addr, opts)?;
    session.set_keepalive(true, opts.keepalive.as_secs().max(1) as u32);
    Ok(SshConn {
        session,
        addr,
        _bridge: bridge,
    })
}

struct PasswordPrompt<'a>(&'a str);

impl KeyboardInteractivePrompt for PasswordPrompt<'_> {
    fn prompt<'b>(
        &mut self,
        _user: &str,
        _instructions: &str,
        prompts: &[Prompt<'b>],
    ) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_string()).collect()
    }
}

fn authenticate(
    session: &Session,
    target: &SshTarget,
    addr: &str,
    opts: &ConnectOptions,
) -> Result<(), ExecError> {
    let user = target.user.as_str();
    let offered = match session.auth_methods(user) {
        Ok(m) => m.to_string(),
        Err(_) if session.authenticated() => return Ok(()),
        Err(e) => {
            return Err(if ssh_error_is_timeout(&e) {
                ExecError::TimedOut {
                    addr: addr.to_string(),
                    what: "SSH authentication".to_string(),
                    secs: opts.connect_timeout.as_secs().max(1),
                }
            } else {
                ExecError::Handshake {
                    addr: addr.to_string(),
                    detail: e.message().to_string(),
                }
            })
        }
    };
    if session.authenticated() {
        return Ok(());
    }
    let offers = |m: &str| offered.split(',').any(|x| x == m);
    let mut tried: Vec<String> = Vec::new();
    let passphrase = opts.key_passphrase.as_ref().map(|s| s.expose());

    let try_key = |path: &Path, tried: &mut Vec<String>, explicit: bool| -> bool {
        if !path.exists() {
            if explicit {
                tried.push(format!("publickey {} (file not found)", path.display()));
            }
            return false;
        }
        match session.userauth_pubkey_file(user, None, path, passphrase) {
            Ok(()) if session.authenticated() => true,
            Ok(()) => false,
            Err(e) => {
                let note = if e.code() == ssh2::ErrorCode::Session(-16) {
                    if passphrase.is_some() {
                        " (cannot read the key: wrong passphrase or unsupported format)"
                    } else {
                        " (cannot read the key: encrypted? pass --key-passphrase-file)"
                    }
                } else {
                    " (rejected)"
                };
                tried.push(format!("publickey {}{note}", path.display()));
                false
            }
        }
    };

    if offers("publickey") {
        if let Some(key) = &target.key_file {
            if try_key(key, &mut tried, true) {
                return Ok(());
            }
        }
        if opts.use_agent {
            if let Some(done) = try_agent(session, user, opts, &mut tried) {
                if done {
                    return Ok(());
                }
            }
        }
        if opts.default_keys && target.key_file.is_none() {
            if let Some(home) = std::env::var_os("HOME") {
                for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                    let p = Path::new(&home).join(".ssh").join(name);
                    if p.exists() && try_key(&p, &mut tried, false) {
                        return Ok(());
                    }
                }
            }
        }
    }
    if let Some(pw) = &target.password {
        if offers("password") {
            tried.push("password".to_string());
            if session.userauth_password(user, pw.expose()).is_ok() && session.authenticated() {
                return Ok(());
            }
        } else if offers("keyboard-interactive") {
            tried.push("keyboard-interactive (password)".to_string());
            let mut p = PasswordPrompt(pw.expose());
            if session.userauth_keyboard_interactive(user, &mut p).is_ok()
                && session.authenticated()
            {
                return Ok(());
            }
        } else {
            tried.push("password (not offered by the server)".to_string());
        }
    }
    Err(ExecError::AuthFailed {
        user: user.to_string(),
        addr: addr.to_string(),
        tried,
        offered,
    })
}

/// `Some(true)` when an agent identity worked, `Some(false)` when the agent
/// was there but none did, `None` without an agent.
fn try_agent(
    session: &Session,
    user: &str,
    opts: &ConnectOptions,
    tried: &mut Vec<String>,
) -> Option<bool> {
    let sock = opts
        .agent_socket
        .clone()
        .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from))?;
    if !sock.exists() {
        return None;
    }
    let mut agent = session.agent().ok()?;
    agent.set_identity_path(&sock).ok()?;
    agent.connect().ok()?;
    agent.list_identities().ok()?;
    let ids = agent.identities().ok()?;
    for id in &ids {
        if agent.userauth(user, id).is_ok() && session.authenticated() {
            let _ = agent.disconnect();
            return Some(true);
        }
        tried.push(format!("publickey from agent ({})", id.comment()));
    }
    if ids.is_empty() {
        tried.push("agent (no identities)".to_string());
    }
    let _ = agent.disconnect();
    Some(false)
}

/// Moves bytes between the bastion's `direct-tcpip` channel and our end of
/// the socketpair that the target's session uses as its socket. The
/// bastion session is non-blocking; one thread serves both directions.
fn pump(bastion: SshConn, mut channel: Channel, mut far: UnixStream) {
    bastion.session.set_blocking(false);
    let _ = far.set_nonblocking(true);
    let tcp_fd = bastion.session.as_raw_fd();
    let unix_fd = far.as_raw_fd();
    let mut up: Vec<u8> = Vec::new();
    let mut down: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut last_keepalive = Instant::now();
    loop {
        let mut progress = false;
        if up.is_empty() {
            match far.read(&mut buf) {
                Ok(0) => {
                    let _ = channel.send_eof();
                    break;
                }
                Ok(n) => {
                    up.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !up.is_empty() {
            match channel.write(&up) {
                Ok(n) => {
                    up.drain(..n);
                    progress = n > 0 || progress;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if down.is_empty() {
            match channel.read(&mut buf) {
                Ok(0) => {
                    if channel.eof() {
                        break;
                    }
                }
                Ok(n) => {
                    down.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !down.is_empty() {
            match far.write(&down) {
                Ok(n) => {
                    down.drain(..n);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if last_keepalive.elapsed() > Duration::from_secs(5) {
            let _ = bastion.session.keepalive_send();
            last_keepalive = Instant::now();
        }
        if !progress {
            let mut fds = [
                libc::pollfd {
                    fd: tcp_fd,
                    events: libc::POLLIN | if up.is_empty() { 0 } else { libc::POLLOUT },
                    revents: 0,
                },
                libc::pollfd {
                    fd: unix_fd,
                    events: (if up.is_empty() { libc::POLLIN } else { 0 })
                        | if down.is_empty() { 0 } else { libc::POLLOUT },
                    revents: 0,
                },
            ];
            unsafe {
                libc::poll(fds.as_mut_ptr(), 2, 1000);
            }
            if fds[1].revents & (libc::POLLHUP | libc::POLLERR) != 0
                && fds[1].revents & libc::POLLIN == 0
            {
                break;
            }
        }
    }
    let _ = far.shutdown(std::net::Shutdown::Both);
    bastion.session.set_blocking(true);
    bastion.session.set_timeout(2000);
    let _ = channel.close();
    drop(channel);
    drop(bastion);
}

/// A byte stream to the shell process on a host.
pub enum Pipe {
    Ssh {
        conn: SshConn,
        channel: Channel,
    },
    Local {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: ChildStdout,
    },
}

impl Pipe {
    /// Starts `command` (a `/bin/sh` command line) over a new exec channel,
    /// with the process's stderr merged into stdout.
    pub fn ssh(conn: SshConn, command: &str) -> Result<Pipe, ExecError> {
        let lost = |e: ssh2::Error| ExecError::ConnectionLost {
            detail: format!("opening a channel: {}", e.message()),
        };
        let mut channel = conn.session.channel_session().map_err(lost)?;
        channel
            .handle_extended_data(ExtendedData::Merge)
            .map_err(lost)?;
        channel.exec(command).map_err(lost)?;
        Ok(Pipe::Ssh { conn, channel })
    }

    /// Starts `command` with the local `/bin/sh`.
    pub fn local(command: &str) -> Result<Pipe, ExecError> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ExecError::Other(format!("cannot start /bin/sh: {e}")))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        Ok(Pipe::Local {
            child,
            stdin: Some(stdin),
            stdout,
        })
    }

    pub fn write_all(&mut self, data: &[u8], timeout: Duration) -> Result<(), ExecError> {
        match self {
            Pipe::Ssh { conn, channel } => {
                conn.session.set_timeout(timeout.as_millis() as u32);
                channel
                    .write_all(data)
                    .and_then(|_| channel.flush())
                    .map_err(|e| ExecError::ConnectionLost {
                        detail: format!("sending to {}: {e}", conn.addr),
                    })
            }
            Pipe::Local { stdin, .. } => {
                let Some(stdin) = stdin.as_mut() else {
                    return Err(ExecError::ConnectionLost {
                        detail: "local shell closed".to_string(),
                    });
                };
                stdin
                    .write_all(data)
                    .and_then(|_| stdin.flush())
                    .map_err(|e| ExecError::ConnectionLost {
                        detail: format!("local shell: {e}"),
                    })
            }
        }
    }

    /// Reads some bytes, waiting at most until `deadline`. `Ok(None)` means
    /// the deadline passed; `Ok(Some(0))` is end of stream.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        tick: Duration,
    ) -> Result<Option<usize>, ExecError> {
        match self {
            Pipe::Ssh { conn, channel } => loop {
                let now = Instant::now();
                let wait = match deadline {
                    Some(d) if d <= now => return Ok(None),
                    Some(d) => (d - now).min(tick),
                    None => tick,
                };
                conn.session.set_timeout(wait.as_millis().max(1) as u32);
                match channel.read(buf) {
                    Ok(n) => return Ok(Some(n)),
                    // Nothing yet. No SSH keepalive here: libssh2 drops a
                    // keepalive it cannot send at once but leaves it pending,
                    // and the next write then fails with "bad use". TCP
                    // keepalives and TCP_USER_TIMEOUT on the socket detect a
                    // dead link instead.
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                    Err(e) => {
                        return Err(ExecError::ConnectionLost {
                            detail: format!("reading from {}: {e}", conn.addr),
                        })
                    }
                }
            },
            Pipe::Local { stdout, .. } => {
                stdout
                    .read(buf)
                    .map(Some)
                    .map_err(|e| ExecError::ConnectionLost {
                        detail: format!("local shell: {e}"),
                    })
            }
        }
    }

    /// Ends the shell: EOF on its stdin, then close.
    pub fn close(&mut self) {
        match self {
            Pipe::Ssh { conn, channel } => {
                conn.session.set_timeout(2000);
                let _ = channel.send_eof();
                let _ = channel.close();
            }
            Pipe::Local { child, stdin, .. } => {
                // EOF first so that the shell's exit trap removes its files.
                drop(stdin.take());
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.close();
    }
}
