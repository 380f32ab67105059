//! One long-lived shell per host, privileged when the node needs `become`.
//!
//! Instead of a new channel and a new `sudo` for every command (each sudo
//! password check costs ~40 ms of host CPU, each channel a round trip), the
//! engine starts `/bin/sh` once — behind `sudo -S -p <random marker>` when
//! it must become another user — and sends it requests framed by length:
//!
//! ```text
//! request : "<script bytes> <stdin bytes> <timeout secs> <cap> <stage>\n" <script> <stdin>
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
//! removes. An upload names a `stage` (a path prefix beside its destination,
//! `-` for none): its stdin is then written straight to a new 0600 file
//! there, named to the command in `$KSI_STDIN`, which it may rename into
//! place; so a large file is written on the host once, on the filesystem it
//! belongs to, and never staged in a small `/tmp`. Stdin is sent from a
//! `Blob` a chunk at a time, so nothing of it is copied here.
//! The sudo password goes to sudo's stdin once, answering our own
//! prompt marker: it is never on a command line, in the environment, or in
//! any text we log.

use std::io::Read;
use std::time::{Duration, Instant};

use super::blob::{Blob, ChunkError};
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
    // The kernel's generator (getrandom); it does not fail on Linux once
    // booted, and a marker that is merely unlikely is still a marker.
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    }
    hex::encode(bytes)
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
p=
trap 'rm -rf "$d"; [ -z "$p" ] || rm -f -- "$p"' EXIT
trap 'exit 1' HUP INT TERM PIPE
echo KSI-READY-{token}
while read -r n m t k s; do
  head -c "$n" >"$d/c" || exit 98
  i=/dev/null
  if [ "$m" -gt 0 ]; then
    i="$d/i"
    case "$s" in /*) mkdir -p -- "${{s%/*}}" 2>/dev/null && i=$(mktemp "${{s}}XXXXXX" 2>/dev/null) || i="$d/i" ;; esac
    case "$i" in "$d"/*) ;; *) p="$i" ;; esac
    head -c "$m" >"$i" || exit 98
    [ "$(wc -c <"$i")" -eq "$m" ] || exit 98
  fi
  if [ "$t" -gt 0 ]; then
    KSI_STDIN="$i" timeout -k 5 "$t" /bin/sh "$d/c" <"$i" >"$d/o" 2>"$d/e"
  else
    KSI_STDIN="$i" /bin/sh "$d/c" <"$i" >"$d/o" 2>"$d/e"
  fi
  r=$?
  [ -z "$p" ] || rm -f -- "$p"
  p=
  echo "KSI-{token} $r"
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

/// What a command reads on its stdin.
#[derive(Clone, Copy)]
pub struct Stdin<'a> {
    pub content: &'a Blob,
    /// Where the host writes it: a path prefix beside the file an upload
    /// makes (see the module's text); none for the shell's own directory.
    pub stage: Option<&'a str>,
}

impl Stdin<'_> {
    /// The request's last field: the prefix when the protocol line can
    /// carry it as it is (absolute, one line, no edge blanks), else `-`.
    fn stage_field(&self) -> String {
        match self.stage {
            Some(p)
                if p.starts_with('/')
                    && p.len() > 1
                    && !p.contains(['\n', '\r'])
                    && p.trim_end() == p =>
            {
                p.to_string()
            }
            _ => "-".to_string(),
        }
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
    /// The last command's request could not be written: the host never
    /// received it whole, so it did not run.
    pub unsent: bool,
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
            unsent: false,
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
                    return Err(shell_exited(user, sudo, &detail));
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
        stdin: Option<Stdin>,
        timeout: Option<Duration>,
    ) -> Result<CmdOutput, ExecError> {
        let t = timeout
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .unwrap_or(0);
        let cap = self.output_cap;
        let (len, stage) = match &stdin {
            Some(i) => (i.content.len(), i.stage_field()),
            None => (0, "-".to_string()),
        };
        let mut req = format!("{} {len} {t} {cap} {stage}\n", script.len()).into_bytes();
        req.extend_from_slice(script.as_bytes());
        // However large: a write fails only when it stalls for io_timeout.
        // The remote loop reads exactly the request's length before it
        // runs anything, so a request cut short never runs.
        self.unsent = true;
        self.pipe.write_all(&req, self.io_timeout)?;
        self.unsent = false;
        if let Some(i) = &stdin {
            let (pipe, stall) = (&mut self.pipe, self.io_timeout);
            if let Err(e) = i.content.each_chunk(|c| pipe.write_all(c, stall)) {
                return Err(match e {
                    ChunkError::Sink(e) => e,
                    ChunkError::Local(m) => {
                        // The host still waits for the rest: this shell is
                        // out of step, so it is closed.
                        self.pipe.close();
                        ExecError::Other(format!("cannot send {m}"))
                    }
                });
            }
        }
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

/// The error for a remote shell that ended before its first answer. Empty
/// output, or nologin's words, mean the login shell runs no command.
fn shell_exited(user: &str, sudo: bool, detail: &str) -> ExecError {
    if sudo && (detail.contains("sudo: not found") || detail.contains("sudo: command not found")) {
        return ExecError::SudoFailed {
            user: user.to_string(),
            detail: "sudo is not installed".to_string(),
        };
    }
    let detail = if detail.is_empty() || detail.contains("account is currently not available") {
        format!(
            "the login shell of '{user}' ran no command{}: is it /bin/false or nologin? ksinstall's commands run through it; give '{user}' a shell such as /bin/bash (`getent passwd {user}` shows it)",
            if detail.is_empty() { String::new() } else { format!(" ({detail})") }
        )
    } else {
        detail.to_string()
    };
    if sudo {
        ExecError::SudoFailed {
            user: user.to_string(),
            detail,
        }
    } else {
        ExecError::ConnectionLost {
            detail: format!("the remote shell exited: {detail}"),
        }
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
    fn a_login_shell_that_runs_nothing_is_named() {
        for sudo in [false, true] {
            for said in ["", "This account is currently not available."] {
                let e = shell_exited("deploy", sudo, said).to_string();
                assert!(
                    e.contains("the login shell of 'deploy' ran no command")
                        && e.contains("getent passwd deploy"),
                    "{e}"
                );
            }
        }
        let e = shell_exited("deploy", true, "sudo: command not found").to_string();
        assert!(e.ends_with("sudo is not installed"), "{e}");
    }

    #[test]
    fn local_shell_round_trips() {
        let mut sh =
            Shell::start(Target::Local, None, None, "me", Duration::from_secs(10)).unwrap();
        let out = sh.run("echo hi; echo err >&2; exit 3", None, None).unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"err\n");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let blob = Blob::new(data.clone());
        let stdin = Stdin {
            content: &blob,
            stage: None,
        };
        let out = sh.run("cat; read x", Some(stdin), None).unwrap();
        assert_eq!(out.stdout, data);
        // A command reading stdin it was not given sees EOF, not the protocol.
        let out = sh.run("cat; echo done", None, None).unwrap();
        assert_eq!(out.stdout, b"done\n");
        let out = sh
            .run("sleep 5", None, Some(Duration::from_secs(1)))
            .unwrap();
        assert!(out.timed_out);
        let out = sh.run("printf 'no newline'", None, None).unwrap();
        assert_eq!(out.stdout, b"no newline");
    }

    /// An upload's stdin is written straight into a new 0600 file beside its
    /// destination (named in $KSI_STDIN), removed if the command leaves it;
    /// without a stage, or with one the protocol line cannot carry, it goes
    /// to the shell's own directory.
    #[test]
    fn stdin_is_staged_beside_the_destination_when_asked() {
        let dir = std::env::temp_dir().join(format!("ksi-stage-{}", random_token()));
        let prefix = format!("{}/sub/.f.ksinstall-", dir.display());
        let mut sh =
            Shell::start(Target::Local, None, None, "me", Duration::from_secs(10)).unwrap();
        let blob = Blob::new(b"payload".to_vec());
        let script = "echo \"$KSI_STDIN\"; stat -c %a \"$KSI_STDIN\"; cat";
        let run = |sh: &mut Shell, stage: Option<&str>| {
            let stdin = Stdin {
                content: &blob,
                stage,
            };
            let out = sh.run(script, Some(stdin), None).unwrap();
            assert_eq!(out.rc, 0, "{}", out.stderr_text());
            let text = out.stdout_text();
            let lines: Vec<&str> = text.lines().collect();
            (
                lines[0].to_string(),
                lines[1].to_string(),
                lines[2].to_string(),
            )
        };
        let (path, mode, content) = run(&mut sh, Some(&prefix));
        assert!(
            path.starts_with(&prefix) && path.len() == prefix.len() + 6,
            "{path}"
        );
        assert_eq!((mode.as_str(), content.as_str()), ("600", "payload"));
        assert!(!std::path::Path::new(&path).exists(), "left behind: {path}");
        for stage in [None, Some("relative/.f"), Some("/with\nnewline/.f")] {
            let (path, _, content) = run(&mut sh, stage);
            assert!(!path.starts_with(&dir.display().to_string()), "{path}");
            assert!(path.contains("/.ksinstall."), "{path}");
            assert_eq!(content, "payload");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_flood_of_output_is_cut_at_the_cap_and_the_shell_goes_on() {
        let mut sh =
            Shell::start(Target::Local, None, None, "me", Duration::from_secs(10)).unwrap();
        sh.output_cap = 1000;
        let e = sh.run("head -c 5000 /dev/zero", None, None).unwrap_err();
        assert_eq!(
            e,
            ExecError::OutputTooLarge {
                stream: "stdout".into(),
                bytes: 5000,
                cap: 1000
            }
        );
        // stderr keeps its end, marked.
        let out = sh.run("seq 1 2000 >&2; echo fine", None, None).unwrap();
        assert_eq!(out.stdout, b"fine\n");
        let err = out.stderr_text();
        assert!(err.starts_with("[... the first "), "{err}");
        assert!(err.ends_with("1999\n2000\n"), "{err}");
        assert!(err.len() < 1100, "{}", err.len());
        // Exactly the cap passes whole.
        let out = sh.run("head -c 1000 /dev/zero", None, None).unwrap();
        assert_eq!(out.stdout.len(), 1000);
    }
}
