//! One long-lived shell per host, privileged when the node needs `become`.
//!
//! Instead of a new channel and a new `sudo` for every command (each sudo
//! password check costs ~40 ms of host CPU, each channel a round trip), the
//! engine starts `/bin/sh` once — behind `sudo -S -p <random marker>` when
//! it must become another user — and sends it requests framed by length:
//!
//! ```text
//! request : "<script bytes> <stdin bytes> <timeout secs> <cap>\n" <script> <stdin>
//! response: "<FRAME> <rc>\n" <wc -c of stdout and stderr: 3 lines> <stdout><stderr>
//! ```
//!
//! At most `cap` bytes of each stream travel (stdout's first, stderr's
//! last), so a command that floods its output cannot exhaust our memory;
//! the sizes `wc` reports say whether anything was cut.
//!
//! `head -c` reads exactly the announced bytes (GNU head never reads ahead),
//! so commands cannot eat the protocol; each command's stdin, stdout and
//! stderr are files in a private `mktemp -d` directory that an exit trap
//! removes. The sudo password goes to sudo's stdin once, answering our own
//! prompt marker: it is never on a command line, in the environment, or in
//! any text we log.

use std::io::Read;
use std::time::{Duration, Instant};

use super::error::ExecError;
use super::transport::Pipe;
use crate::model::Secret;

/// What a command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The command was killed by its time limit (`timeout` exit 124).
    pub timed_out: bool,
}

impl CmdOutput {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A random token, so that no output can fake our markers by accident.
pub fn random_token() -> String {
    let mut bytes = [0u8; 10];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes[..8].copy_from_slice(&(t as u64 ^ u64::from(std::process::id())).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Single-quotes `s` for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn boot_script(token: &str) -> String {
    format!(
        r#"unset LC_ALL
d=$(mktemp -d "${{TMPDIR:-/tmp}}/.ksinstall.XXXXXXXX") || exit 97
trap 'rm -rf "$d"' EXIT
trap 'exit 1' HUP INT TERM PIPE
echo KSI-READY-{token}
while read -r n m t k; do
  head -c "$n" >"$d/c" || exit 98
  if [ "$m" -gt 0 ]; then
    head -c "$m" >"$d/i" || exit 98
    [ "$(wc -c <"$d/i")" -eq "$m" ] || exit 98
    i="$d/i"
  else
    i=/dev/null
  fi
  if [ "$t" -gt 0 ]; then
    timeout -k 5 "$t" /bin/sh "$d/c" <"$i" >"$d/o" 2>"$d/e"
  else
    /bin/sh "$d/c" <"$i" >"$d/o" 2>"$d/e"
  fi
  echo "KSI-{token} $?"
  wc -c "$d/o" "$d/e"
  head -c "$k" "$d/o"
  tail -c "$k" "$d/e"
done
"#
    )
}

/// The command line that starts the shell: as the login user, or through
/// sudo with our own prompt. stderr is merged so sudo's messages arrive in
/// order with everything else.
fn start_command(token: &str, become_user: Option<&str>) -> String {
    let boot = sh_quote(&boot_script(token));
    match become_user {
        None => format!("exec 2>&1; exec /bin/sh -c {boot}"),
        Some(user) => format!(
            "exec 2>&1; exec env LC_ALL=C sudo -S -p {} -u {} /bin/sh -c {boot}",
            sh_quote(&format!("[ksinstall-sudo-{token}]")),
            sh_quote(user)
        ),
    }
}

pub struct Shell {
    pipe: Pipe,
    buf: Vec<u8>,
    token: String,
    /// Longest single wait of a read (then the deadline is checked).
    tick: Duration,
    /// Grace on top of a command's own time limit, the limit for starting
    /// the shell, and how long a write may go without any byte accepted.
    io_timeout: Duration,
    /// The most of each output stream a command may return.
    pub output_cap: u64,
}

/// 64 MiB: far above what any command of ours prints (the largest are
/// fetched certificates and kubeconfigs), far below a memory problem.
pub const OUTPUT_CAP: u64 = 64 << 20;

/// Where a shell runs.
pub enum Target {
    Ssh(super::transport::SshConn),
    Local,
}

impl Shell {
    /// Starts the shell, as `become_user` through sudo when given.
    /// `login_user` only names the user in errors.
    pub fn start(
        target: Target,
        become_user: Option<&str>,
        password: Option<&Secret>,
        login_user: &str,
        io_timeout: Duration,
    ) -> Result<Shell, ExecError> {
        let token = random_token();
        let cmd = start_command(&token, become_user);
        let pipe = match target {
            Target::Ssh(conn) => Pipe::ssh(conn, &cmd)?,
            Target::Local => Pipe::local(&cmd)?,
        };
        let mut sh = Shell {
            pipe,
            buf: Vec::new(),
            token,
            tick: Duration::from_secs(5),
            io_timeout,
            output_cap: OUTPUT_CAP,
        };
        sh.await_ready(become_user.is_some(), password, login_user)?;
        Ok(sh)
    }

    fn await_ready(
        &mut self,
        sudo: bool,
        password: Option<&Secret>,
        user: &str,
    ) -> Result<(), ExecError> {
        let ready = format!("KSI-READY-{}\n", self.token);
        let prompt = format!("[ksinstall-sudo-{}]", self.token);
        let deadline = Instant::now() + self.io_timeout;
        let mut prompts_answered = 0;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(pos) = find(&self.buf, ready.as_bytes()) {
                self.buf.drain(..pos + ready.len());
                return Ok(());
            }
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            if sudo {
                let seen = text.matches(prompt.as_str()).count();
                if seen > prompts_answered {
                    if prompts_answered > 0 || text.contains("Sorry, try again") {
                        return Err(ExecError::SudoWrongPassword {
                            user: user.to_string(),
                        });
                    }
                    let Some(pw) = password else {
                        return Err(ExecError::SudoPasswordMissing {
                            user: user.to_string(),
                        });
                    };
                    let mut line = pw.expose().as_bytes().to_vec();
                    line.push(b'\n');
                    self.pipe.write_all(&line, self.io_timeout)?;
                    prompts_answered = seen;
                }
                if text.contains("Sorry, try again") || text.contains("incorrect password attempt")
                {
                    return Err(ExecError::SudoWrongPassword {
                        user: user.to_string(),
                    });
                }
                if text.contains("must have a tty") || text.contains("no tty present") {
                    return Err(ExecError::SudoNeedsTty {
                        user: user.to_string(),
                    });
                }
                for pat in [
                    "is not in the sudoers file",
                    "is not allowed to execute",
                    "may not run sudo",
                ] {
                    if text.contains(pat) {
                        let detail = text.replace(prompt.as_str(), "").trim().to_string();
                        return Err(ExecError::SudoNotAllowed {
                            user: user.to_string(),
                            detail,
                        });
                    }
                }
            }
            match self.pipe.read(&mut chunk, Some(deadline), self.tick)? {
                None => {
                    return Err(if sudo {
                        ExecError::SudoFailed {
                            user: user.to_string(),
                            detail: format!(
                                "no answer within {}s; output: {}",
                                self.io_timeout.as_secs(),
                                text.replace(prompt.as_str(), "").trim()
                            ),
                        }
                    } else {
                        ExecError::OpTimedOut {
                            what: "starting the remote shell".to_string(),
                            secs: self.io_timeout.as_secs(),
                        }
                    })
                }
                Some(0) => {
                    let detail = text.replace(prompt.as_str(), "").trim().to_string();
                    return Err(if sudo {
                        if detail.contains("sudo: not found")
                            || detail.contains("sudo: command not found")
                        {
                            ExecError::SudoFailed {
                                user: user.to_string(),
                                detail: "sudo is not installed".to_string(),
                            }
                        } else {
                            ExecError::SudoFailed {
                                user: user.to_string(),
                                detail: if detail.is_empty() {
                                    "sudo exited".to_string()
                                } else {
                                    detail
                                },
                            }
                        }
                    } else {
                        ExecError::ConnectionLost {
                            detail: format!("the remote shell exited: {detail}"),
                        }
                    });
                }
                Some(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn fill(&mut self, deadline: Option<Instant>, what: &str, secs: u64) -> Result<(), ExecError> {
        let mut chunk = [0u8; 32 * 1024];
        match self.pipe.read(&mut chunk, deadline, self.tick)? {
            None => Err(ExecError::OpTimedOut {
                what: what.to_string(),
                secs,
            }),
            Some(0) => Err(ExecError::ConnectionLost {
                detail: "the remote shell ended unexpectedly".to_string(),
            }),
            Some(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    fn read_line(
        &mut self,
        deadline: Option<Instant>,
        what: &str,
        secs: u64,
    ) -> Result<String, ExecError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            self.fill(deadline, what, secs)?;
        }
    }

    fn read_exact(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
        what: &str,
        secs: u64,
    ) -> Result<Vec<u8>, ExecError> {
        while self.buf.len() < n {
            self.fill(deadline, what, secs)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Runs `script` with `/bin/sh`, feeding it `stdin`, killed after
    /// `timeout` (whole seconds, rounded up).
    pub fn run(
        &mut self,
        script: &str,
        stdin: &[u8],
        timeout: Option<Duration>,
    ) -> Result<CmdOutput, ExecError> {
        let t = timeout
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .unwrap_or(0);
        let cap = self.output_cap;
        let mut req = format!("{} {} {} {cap}\n", script.len(), stdin.len(), t).into_bytes();
        req.extend_from_slice(script.as_bytes());
        req.extend_from_slice(stdin);
        // However large: the write fails only when it stalls for io_timeout.
        self.pipe.write_all(&req, self.io_timeout)?;
        let deadline = timeout.map(|d| Instant::now() + d + self.io_timeout);
        let what = "the command";
        let secs = t + self.io_timeout.as_secs();
        let header = format!("KSI-{} ", self.token);
        let mut noise = String::new();
        let rc = loop {
            let line = self.read_line(deadline, what, secs)?;
            if let Some(rest) = line.strip_prefix(header.as_str()) {
                break rest.trim().parse::<i32>().map_err(|_| {
                    ExecError::Other(format!("bad reply from the remote shell: {line}"))
                })?;
            }
            // The shell itself complained (it should not): keep it for errors.
            noise.push_str(&line);
            noise.push('\n');
        };
        let mut sizes = [0u64; 2];
        for size in &mut sizes {
            let line = self.read_line(deadline, what, secs)?;
            *size = line
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| {
                    ExecError::Other(format!("bad reply from the remote shell: {line}"))
                })?;
        }
        let _total = self.read_line(deadline, what, secs)?;
        let sent = |n: u64| n.min(cap) as usize;
        let stdout = self.read_exact(sent(sizes[0]), deadline, what, secs)?;
        let mut stderr = self.read_exact(sent(sizes[1]), deadline, what, secs)?;
        // Every byte sent is read, so the shell stays usable either way.
        if sizes[0] > cap {
            return Err(ExecError::OutputTooLarge {
                stream: "stdout".into(),
                bytes: sizes[0],
                cap,
            });
        }
        if sizes[1] > cap {
            // Only people read stderr: its end, marked, is enough.
            let mut cut =
                format!("[... the first {} bytes cut ...]\n", sizes[1] - cap).into_bytes();
            cut.append(&mut stderr);
            stderr = cut;
        }
        if !noise.is_empty() {
            stderr.extend_from_slice(noise.as_bytes());
        }
        Ok(CmdOutput {
            rc,
            stdout,
            stderr,
            timed_out: t > 0 && rc == 124,
        })
    }

    pub fn close(&mut self) {
        self.pipe.close();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("abc/d-e"), "abc/d-e");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn local_shell_round_trips() {
        let mut sh =
            Shell::start(Target::Local, None, None, "me", Duration::from_secs(10)).unwrap();
        let out = sh.run("echo hi; echo err >&2; exit 3", b"", None).unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"err\n");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let out = sh.run("cat; read x", &data, None).unwrap();
        assert_eq!(out.stdout, data);
        // A command reading stdin it was not given sees EOF, not the protocol.
        let out = sh.run("cat; echo done", b"", None).unwrap();
        assert_eq!(out.stdout, b"done\n");
        let out = sh
            .run("sleep 5", b"", Some(Duration::from_secs(1)))
            .unwrap();
        assert!(out.timed_out);
        let out = sh.run("printf 'no newline'", b"", None).unwrap();
        assert_eq!(out.stdout, b"no newline");
    }

    #[test]
    fn a_flood_of_output_is_cut_at_the_cap_and_the_shell_goes_on() {
        let mut sh =
            Shell::start(Target::Local, None, None, "me", Duration::from_secs(10)).unwrap();
        sh.output_cap = 1000;
        let e = sh.run("head -c 5000 /dev/zero", b"", None).unwrap_err();
        assert_eq!(
            e,
            ExecError::OutputTooLarge {
                stream: "stdout".into(),
                bytes: 5000,
                cap: 1000
            }
        );
        // stderr keeps its end, marked.
        let out = sh.run("seq 1 2000 >&2; echo fine", b"", None).unwrap();
        assert_eq!(out.stdout, b"fine\n");
        let err = out.stderr_text();
        assert!(err.starts_with("[... the first "), "{err}");
        assert!(err.ends_with("1999\n2000\n"), "{err}");
        assert!(err.len() < 1100, "{}", err.len());
        // Exactly the cap passes whole.
        let out = sh.run("head -c 1000 /dev/zero", b"", None).unwrap();
        assert_eq!(out.stdout.len(), 1000);
    }
}
