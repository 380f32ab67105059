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
    /// TCP keepalive idle time and interval (3 probes); a link that stops
    /// acknowledging for `TCP_USER_TIMEOUT` (3 intervals) is declared dead
    /// by the kernel. No SSH-level keepalive (see `connect`).
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
/// TCP keepalives (idle and interval `keepalive`, 3 probes): an idle dead
/// link is found. TCP_USER_TIMEOUT: a cut link shows up as an error
/// instead of a hang. These replace SSH-level keepalives: see `connect`.
fn tune_socket(s: &TcpStream, opts: &ConnectOptions) {
    let _ = s.set_nodelay(true);
    let fd = s.as_raw_fd();
    let secs = opts.keepalive.as_secs().clamp(1, 3600) as libc::c_int;
    let ms: libc::c_int = (secs * 3000).max(5000);
    for (level, name, value) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
        (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms),
    ] {
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
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
    // No libssh2 keepalive (`libssh2_keepalive_config` stays at 0). Once
    // configured, libssh2 1.10 sends one by itself from inside every
    // blocking call that waits on the socket (`_libssh2_wait_socket`),
    // including a channel write that is waiting with a data packet half
    // sent: the keepalive then fails with LIBSSH2_ERROR_BAD_USE ("bad use
    // error") and so does the write; the session is dead. Where nothing is
    // half sent, the wait is cut at the next keepalive's time and a write
    // stalled longer than that fails with a timeout. TCP keepalives and
    // TCP_USER_TIMEOUT (`tune_socket`) detect dead links instead.
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

/// Which libssh2 call left a packet half sent (see `pump`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owed {
    Read,
    Write,
}

/// Whether the last libssh2 call that ended in EAGAIN left an outgoing
/// packet half sent (a channel data packet, or the window adjust a read
/// sends first).
fn half_sent(session: &Session) -> bool {
    matches!(
        session.block_directions(),
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    )
}

/// Moves bytes between the bastion's `direct-tcpip` channel and our end of
/// the socketpair that the target's session uses as its socket. The
/// bastion session is non-blocking; one thread serves both directions.
///
/// libssh2 sends one packet at a time: after a call ends in EAGAIN with a
/// packet half sent, only the same call (with the same data) may come next
/// until it completes; a read in between (it may send a window adjust)
/// or a write (a data packet) would get LIBSSH2_ERROR_BAD_USE. `owed`
/// keeps that order. No SSH keepalive either (its packet is built on the
/// stack: one left half sent can never be completed); the bastion's TCP
/// socket has TCP keepalives.
fn pump(bastion: SshConn, mut channel: Channel, mut far: UnixStream) {
    bastion.session.set_blocking(false);
    let _ = far.set_nonblocking(true);
    let tcp_fd = bastion.session.as_raw_fd();
    let unix_fd = far.as_raw_fd();
    let mut up: Vec<u8> = Vec::new();
    let mut down: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut owed: Option<Owed> = None;
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
        // `up` is only refilled once empty: a write retried after EAGAIN
        // passes the same bytes.
        if !up.is_empty() && owed != Some(Owed::Read) {
            match channel.write(&up) {
                Ok(n) => {
                    owed = None;
                    up.drain(..n);
                    progress = n > 0 || progress;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    owed = half_sent(&bastion.session).then_some(Owed::Write);
                }
                Err(_) => break,
            }
        }
        if down.is_empty() && owed != Some(Owed::Write) {
            match channel.read(&mut buf) {
                Ok(0) => {
                    owed = None;
                    if channel.eof() {
                        break;
                    }
                }
                Ok(n) => {
                    owed = None;
                    down.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    owed = half_sent(&bastion.session).then_some(Owed::Read);
                }
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
        if !progress {
            let mut fds = [
                libc::pollfd {
                    fd: tcp_fd,
                    events: libc::POLLIN
                        | if up.is_empty() && owed.is_none() {
                            0
                        } else {
                            libc::POLLOUT
                        },
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

/// Writes all of `data` to `w` under libssh2's rules for channel writes
/// (1.10, `_libssh2_channel_write`): a call that ends in EAGAIN or a
/// timeout may leave a packet half sent, and then the next call must pass
/// the same remaining data (the packet goes on from where it stopped; any
/// other packet is refused with LIBSSH2_ERROR_BAD_USE). So: a short write
/// moves on, WouldBlock/TimedOut/Interrupted and a zero-byte write (window
/// full) retry with exactly the same slice, and the write fails only when
/// no byte was accepted for `stall`. `before` is called before each write
/// with the time left (to set the session's timeout).
pub(crate) fn write_fully<W: Write>(
    w: &mut W,
    data: &[u8],
    stall: Duration,
    mut before: impl FnMut(Duration),
) -> io::Result<()> {
    let mut done = 0;
    let mut progress_at = Instant::now();
    while done < data.len() {
        let left = stall.saturating_sub(progress_at.elapsed());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no byte accepted for {} s ({done} of {} sent)",
                    stall.as_secs(),
                    data.len()
                ),
            ));
        }
        before(left);
        match w.write(&data[done..]) {
            Ok(0) => std::thread::sleep(Duration::from_millis(2)),
            Ok(n) => {
                done += n;
                progress_at = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

    /// Sends all of `data`; fails when no byte was accepted for `stall`.
    pub fn write_all(&mut self, data: &[u8], stall: Duration) -> Result<(), ExecError> {
        match self {
            Pipe::Ssh { conn, channel } => {
                let session = &conn.session;
                // No `flush()` after it: ssh2's channel writes are not
                // buffered, and `libssh2_channel_flush` *discards* received
                // data not read yet.
                write_fully(channel, data, stall, |wait| {
                    session.set_timeout(wait.as_millis().clamp(1, u32::MAX as u128) as u32)
                })
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
                    // Nothing yet. A window adjust this read began may be
                    // half sent: the next call is this read again (the
                    // caller reads until the reply is complete, or drops
                    // the session at its deadline). No SSH keepalive: see
                    // `connect`.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer with libssh2 1.10's channel-write rules: at most `chunk`
    /// bytes per call; every `every`-th call queues a packet of the data
    /// it was given, sends part of it and fails with `kind` (EAGAIN or a
    /// timeout); the next call must then pass the same data (pointer and
    /// length) and completes that packet, any other call is "bad use".
    struct Libssh2Like {
        got: Vec<u8>,
        chunk: usize,
        every: usize,
        kind: io::ErrorKind,
        calls: usize,
        half_sent: Option<(*const u8, usize, usize)>,
        zero_first: usize,
    }

    impl Libssh2Like {
        fn new(chunk: usize, every: usize, kind: io::ErrorKind) -> Self {
            Libssh2Like {
                got: Vec::new(),
                chunk,
                every,
                kind,
                calls: 0,
                half_sent: None,
                zero_first: 0,
            }
        }
    }

    impl Write for Libssh2Like {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if let Some((ptr, len, n)) = self.half_sent.take() {
                if ptr != buf.as_ptr() || len != buf.len() {
                    return Err(io::Error::other("bad use error"));
                }
                self.got.extend_from_slice(&buf[..n]);
                return Ok(n);
            }
            if self.zero_first > 0 {
                // Window full: nothing queued, nothing sent.
                self.zero_first -= 1;
                return Ok(0);
            }
            let n = buf.len().min(self.chunk);
            if self.calls.is_multiple_of(self.every) {
                self.half_sent = Some((buf.as_ptr(), buf.len(), n));
                return Err(io::Error::new(self.kind, "would block / timed out"));
            }
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn data() -> Vec<u8> {
        (0..1_000_003u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn write_fully_resends_the_same_data_after_eagain_or_a_timeout() {
        for kind in [io::ErrorKind::WouldBlock, io::ErrorKind::TimedOut] {
            let d = data();
            let mut w = Libssh2Like::new(32_700, 3, kind);
            let mut waits = 0;
            write_fully(&mut w, &d, Duration::from_secs(5), |_| waits += 1).unwrap();
            assert!(w.got == d, "{kind:?}: bytes differ");
            assert!(
                w.calls > 40 && waits == w.calls,
                "{kind:?}: {} calls",
                w.calls
            );
        }
    }

    #[test]
    fn std_write_all_gives_up_after_a_timeout() {
        // What the engine used before (`channel.write_all`): the timed-out
        // half-sent packet ends the write, and the session is unusable.
        let d = data();
        let mut w = Libssh2Like::new(32_700, 3, io::ErrorKind::TimedOut);
        assert_eq!(w.write_all(&d).unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn write_fully_waits_through_a_full_window() {
        let d = data();
        let mut w = Libssh2Like::new(32_700, 1000, io::ErrorKind::WouldBlock);
        w.zero_first = 5;
        write_fully(&mut w, &d, Duration::from_secs(5), |_| {}).unwrap();
        assert!(w.got == d);
    }

    #[test]
    fn write_fully_fails_after_a_stall() {
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let t0 = Instant::now();
        let e = write_fully(&mut Stuck, b"abc", Duration::from_millis(200), |_| {}).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("0 of 3 sent"), "{e}");
        assert!(t0.elapsed() >= Duration::from_millis(200));
        // Other errors end it at once.
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("bad use error"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_fully(&mut Broken, b"abc", Duration::from_secs(5), |_| {}).unwrap_err();
        assert_eq!(e.to_string(), "bad use error");
    }
}
