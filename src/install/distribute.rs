//! Bundles served, not pushed (`install --serve-bundle`, `ksinstall
//! stage`): each host's part of the bundle reaches its cache
//! (`/var/lib/ksinstall/cas/<sha256>`) over HTTP, from this machine for
//! the first copies of each file and then from the hosts that hold it
//! (each runs `ksinstall-relay`, which serves its cache). This machine
//! sends each file at most `TASKBOX_COPIES` times while hosts can serve
//! it, so its uplink carries a bounded multiple of the bundle, not the
//! bundle times the hosts. Every file is checked against its digest on
//! arrival. The uploads of the phases then find the content in the cache
//! (`Engine::upload`) and send nothing. A host whose relay cannot start or
//! dies is only a host that serves no one: its files come from elsewhere,
//! and whatever did not arrive is pushed over SSH as before.

use std::collections::{BTreeMap, HashMap};
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};

use crate::exec::relay::{self, Served};
use crate::exec::shell::sh_quote;
use crate::exec::{Action, Blob, Engine, HostCtx, HostFail};

use crate::exec::relay::CAS_DIR as CAS;
const RELAY: &str = "/var/lib/ksinstall/ksinstall-relay";
const PORT_FILE: &str = "/var/lib/ksinstall/relay.port";
const PID_FILE: &str = "/var/lib/ksinstall/relay.pid";
/// Copies of one file this machine sends while hosts can serve it.
const TASKBOX_COPIES: usize = 2;
/// Fetches one source serves at once (this machine, a host).
const TASKBOX_SLOTS: usize = 4;
const HOST_SLOTS: usize = 2;

/// What the distribution did, for the screen and the benchmark.
#[derive(Debug, Default)]
pub struct Figures {
    pub hosts: usize,
    /// The distinct files, and their bytes (the bundle's part in play).
    pub files: usize,
    pub bundle_bytes: u64,
    /// Bytes that reached hosts, and how many of them this machine sent.
    pub delivered: u64,
    pub taskbox_bytes: u64,
    pub seconds: f64,
    /// Hosts whose relay did not start (they got their files, served none).
    pub no_relay: Vec<String>,
    /// Hosts that did not get everything (the phases push it over SSH).
    pub incomplete: Vec<String>,
}

/// The relay binary beside this one (`cargo` builds both; a release ships both).
fn relay_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("this program's path")?;
    let p = exe.with_file_name("ksinstall-relay");
    match p.is_file() {
        true => Ok(p),
        false => Err(anyhow!(
            "{} is missing: it ships beside ksinstall",
            p.display()
        )),
    }
}

/// Puts each host's `wants` (bundle files) into its cache through the
/// fan-out, and says how it went.
pub fn distribute(engine: &Engine, wants: &BTreeMap<String, Vec<Blob>>) -> anyhow::Result<Figures> {
    let t0 = Instant::now();
    let hosts: Vec<usize> = (engine.nodes().iter().enumerate())
        .filter(|(_, n)| wants.get(&n.name).is_some_and(|w| !w.is_empty()))
        .map(|(i, _)| i)
        .collect();
    let mut files: HashMap<String, Blob> = HashMap::new();
    for b in wants.values().flatten() {
        files
            .entry(b.sha256().to_string())
            .or_insert_with(|| b.clone());
    }
    let relay = Blob::file(&relay_binary()?)?;
    let mut served_files = files.clone();
    served_files.insert(relay.sha256().to_string(), relay.clone());
    let server = TaskboxServer::start(&served_files)?;
    let names: Vec<String> = hosts
        .iter()
        .map(|&i| engine.nodes()[i].name.clone())
        .collect();
    let board = Board::new(&names, wants, &relay);
    // Each host gets the relay (itself through the fan-out), starts
    // serving, then fetches the rest: no host waits for the others.
    let step = engine.step(
        "the bundle from this machine and the hosts",
        &hosts,
        |ctx| {
            let taskbox = taskbox_for(ctx, &server)?;
            fetch_relay(ctx, &board, &taskbox, relay.sha256())?;
            start_relay(ctx, relay.sha256(), &board)?;
            fetch_all(ctx, &board, &taskbox)
        },
    );
    engine.step("stop the relays", &hosts, stop_relay);
    let served = server.stop();
    let b = board.state.lock().expect("no panic holds it");
    let mut f = Figures {
        hosts: hosts.len(),
        files: files.len(),
        bundle_bytes: files.values().map(Blob::len).sum(),
        delivered: b.delivered,
        taskbox_bytes: served,
        seconds: t0.elapsed().as_secs_f64(),
        ..Figures::default()
    };
    for (i, h) in b.hosts.iter().enumerate() {
        if h.relay.is_none() {
            f.no_relay.push(h.name.clone());
        }
        if !b.pending[i].is_empty() || step.failures().any(|r| r.host == h.name) {
            f.incomplete.push(h.name.clone());
        }
    }
    Ok(f)
}

/// This machine's side: every file by digest, on a port the kernel picks.
struct TaskboxServer {
    port: u16,
    served: Arc<Served>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl TaskboxServer {
    fn start(files: &HashMap<String, Blob>) -> anyhow::Result<TaskboxServer> {
        let paths: HashMap<String, PathBuf> = (files.iter())
            .filter_map(|(d, b)| Some((d.clone(), b.path()?.to_path_buf())))
            .collect();
        let l = TcpListener::bind("0.0.0.0:0").context("a port to serve the bundle on")?;
        let port = l.local_addr()?.port();
        let lookup = Arc::new(move |d: &str| paths.get(d).cloned());
        let served = Arc::new(Served::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (served.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            relay::serve(l, lookup, s, move |_| st.load(Ordering::SeqCst))
        });
        Ok(TaskboxServer {
            port,
            served,
            stop,
            thread,
        })
    }

    /// This machine's address as `host` reaches it (the route's source
    /// address; nothing is sent), with the server's port.
    fn address_for(&self, host: &str) -> Option<String> {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.connect((host, 22)).ok()?;
        Some(format!("{}:{}", s.local_addr().ok()?.ip(), self.port))
    }

    /// Stops serving; the bytes it sent.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        self.served.bytes.load(Ordering::SeqCst)
    }
}

/// One host on the board.
struct HostState {
    name: String,
    /// `address:port` of its relay, once it serves.
    relay: Option<String>,
    /// Its relay was started (or failed to): what it holds from now on
    /// is served by it, or by no one.
    started: bool,
    busy: usize,
}

struct State {
    hosts: Vec<HostState>,
    /// Per host, the digests it still lacks.
    pending: Vec<Vec<String>>,
    /// Per digest, the hosts whose relay serves it.
    holders: HashMap<String, Vec<usize>>,
    /// Per digest, copies this machine is sending now.
    from_taskbox: HashMap<String, usize>,
    /// Per digest, hosts that hold it and will serve it once their relay
    /// runs (the relay binary itself, fetched before the relay starts).
    arriving: HashMap<String, Vec<usize>>,
    taskbox_busy: usize,
    delivered: u64,
}

/// Who holds what, shared by the hosts' threads: each claims a file and a
/// source with a free slot, fetches, and reports back.
struct Board {
    state: Mutex<State>,
    changed: Condvar,
    index: HashMap<String, usize>,
    sizes: HashMap<String, u64>,
}

/// Where one fetch comes from.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Source {
    Taskbox,
    Host(usize),
}

impl Board {
    /// The hosts (by name, in the step's order), what each wants, and the
    /// relay binary every host fetches first.
    fn new(names: &[String], wants: &BTreeMap<String, Vec<Blob>>, relay: &Blob) -> Board {
        let mut st = State {
            hosts: Vec::new(),
            pending: Vec::new(),
            holders: HashMap::new(),
            from_taskbox: HashMap::new(),
            arriving: HashMap::new(),
            taskbox_busy: 0,
            delivered: 0,
        };
        let (mut index, mut sizes) = (HashMap::new(), HashMap::new());
        for (k, name) in names.iter().enumerate() {
            let name = name.clone();
            index.insert(name.clone(), k);
            let mut digests: Vec<String> = Vec::new();
            for b in &wants[&name] {
                sizes.insert(b.sha256().to_string(), b.len());
                if !digests.iter().any(|d| d == b.sha256()) {
                    digests.push(b.sha256().to_string());
                }
            }
            // Each host starts at a different file, so the first copies
            // spread over many files and the hosts soon serve each other.
            let n = digests.len().max(1);
            digests.rotate_left(k % n);
            st.hosts.push(HostState {
                name,
                relay: None,
                started: false,
                busy: 0,
            });
            st.pending.push(digests);
        }
        sizes.insert(relay.sha256().to_string(), relay.len());
        Board {
            state: Mutex::new(st),
            changed: Condvar::new(),
            index,
            sizes,
        }
    }
}

/// One fetch command's worth: files from one source.
struct Claim {
    source: Source,
    /// The source's `address:port` when it is a host.
    relay: Option<String>,
    digests: Vec<String>,
    bytes: u64,
}

/// At most this much in one fetch command: few commands for many small
/// packages, and a slot not held for long.
const BATCH_FILES: usize = 32;
const BATCH_BYTES: u64 = 64_000_000;

impl Board {
    /// Files `k` lacks from one source with a free slot, claimed; `None`
    /// when `k` has everything. Hosts that serve them come first; this
    /// machine only while fewer than `TASKBOX_COPIES` relays hold a file.
    /// `only`: that one file alone (the relay binary, fetched first).
    /// Waits (1 s at a time, 10 minutes at most) while every source is busy.
    fn claim(&self, k: usize, only: Option<&str>) -> Result<Option<Claim>, HostFail> {
        let mut st = self.state.lock().expect("no panic holds it");
        let t0 = Instant::now();
        loop {
            let list = match only {
                Some(d) => vec![d.to_string()],
                None => st.pending[k].clone(),
            };
            if list.is_empty() {
                return Ok(None);
            }
            let alone = only.is_some();
            if let Some((d, h)) = st.free_peer(k, &list) {
                st.hosts[h].busy += 1;
                let digests = self.batch(&st, k, d, |st, x| {
                    !alone && st.holders.get(x).is_some_and(|v| v.contains(&h))
                });
                let relay = st.hosts[h].relay.clone();
                return Ok(Some(self.claimed(Source::Host(h), relay, digests)));
            }
            if let Some(d) = st.taskbox_may_send(&list) {
                st.taskbox_busy += 1;
                let digests = self.batch(&st, k, d, |st, x| {
                    !alone && st.taskbox_copies(x) < TASKBOX_COPIES
                });
                for x in &digests {
                    *st.from_taskbox.entry(x.clone()).or_default() += 1;
                }
                return Ok(Some(self.claimed(Source::Taskbox, None, digests)));
            }
            if t0.elapsed() > Duration::from_secs(600) {
                return Err(HostFail::Failed(
                    "no source had a free slot for 10 minutes".into(),
                ));
            }
            let wait = self.changed.wait_timeout(st, Duration::from_secs(1));
            st = wait.expect("no panic holds it").0;
        }
    }

    /// `first`, and more of what `k` lacks that `ok` says the same source
    /// has, up to a batch.
    fn batch(
        &self,
        st: &State,
        k: usize,
        first: String,
        ok: impl Fn(&State, &String) -> bool,
    ) -> Vec<String> {
        let mut bytes = self.sizes.get(&first).copied().unwrap_or(0);
        let mut out = vec![first];
        for d in &st.pending[k] {
            if out.len() >= BATCH_FILES || bytes >= BATCH_BYTES {
                break;
            }
            if !out.contains(d) && ok(st, d) {
                bytes += self.sizes.get(d).copied().unwrap_or(0);
                out.push(d.clone());
            }
        }
        out
    }

    fn claimed(&self, source: Source, relay: Option<String>, digests: Vec<String>) -> Claim {
        let bytes = digests
            .iter()
            .map(|d| self.sizes.get(d).copied().unwrap_or(0))
            .sum();
        Claim {
            source,
            relay,
            digests,
            bytes,
        }
    }

    /// After a fetch: the slot given back, the files that arrived the
    /// host's (and served by it, when its relay runs). A source that
    /// failed (`source_failed`) serves no one from now on.
    fn finish(&self, k: usize, c: &Claim, arrived: &[String], source_failed: bool) {
        let mut st = self.state.lock().expect("no panic holds it");
        match c.source {
            Source::Taskbox => {
                st.taskbox_busy -= 1;
                for d in &c.digests {
                    *st.from_taskbox.entry(d.clone()).or_default() -= 1;
                }
            }
            Source::Host(h) => st.hosts[h].busy -= 1,
        }
        for d in arrived {
            st.held(k, d);
            st.delivered += self.sizes.get(d).copied().unwrap_or(0);
        }
        if let (Source::Host(h), true) = (c.source, source_failed) {
            st.hosts[h].relay = None;
            st.holders.values_mut().for_each(|v| v.retain(|&x| x != h));
        }
        self.changed.notify_all();
    }

    fn relay_up(&self, k: usize, addr: Option<String>, held: &[String]) {
        let mut st = self.state.lock().expect("no panic holds it");
        st.hosts[k].relay = addr;
        st.hosts[k].started = true;
        st.arriving.values_mut().for_each(|v| v.retain(|&x| x != k));
        for d in held {
            st.held(k, d);
        }
        self.changed.notify_all();
    }
}

impl State {
    /// `k` holds `d` now.
    fn held(&mut self, k: usize, d: &str) {
        self.pending[k].retain(|x| x != d);
        let to = match (self.hosts[k].relay.is_some(), self.hosts[k].started) {
            (true, _) => &mut self.holders,
            (false, false) => &mut self.arriving,
            (false, true) => return,
        };
        let h = to.entry(d.to_string()).or_default();
        if !h.contains(&k) {
            h.push(k);
        }
    }

    /// The first file `k` lacks that a host serves with a free slot (the
    /// least busy such host).
    fn free_peer(&self, k: usize, lacking: &[String]) -> Option<(String, usize)> {
        lacking.iter().find_map(|d| {
            let hs = self.holders.get(d)?;
            let h = (hs.iter().copied())
                .filter(|&h| h != k && self.hosts[h].busy < HOST_SLOTS)
                .min_by_key(|&h| self.hosts[h].busy)?;
            Some((d.clone(), h))
        })
    }

    /// Relays that hold `d`, and copies of it this machine is sending.
    fn taskbox_copies(&self, d: &String) -> usize {
        let n = |m: &HashMap<String, Vec<usize>>| m.get(d).map_or(0, Vec::len);
        n(&self.holders) + n(&self.arriving) + self.from_taskbox.get(d).copied().unwrap_or(0)
    }

    /// The first of `lacking` this machine may send now.
    fn taskbox_may_send(&self, lacking: &[String]) -> Option<String> {
        if self.taskbox_busy >= TASKBOX_SLOTS {
            return None;
        }
        let mut it = lacking.iter();
        it.find(|d| self.taskbox_copies(d) < TASKBOX_COPIES)
            .cloned()
    }
}

/// The relay binary (in the host's cache by now) installed and started on
/// a port the kernel picks; what the cache holds (checked) counts as held.
fn start_relay(ctx: &mut HostCtx, relay: &str, board: &Board) -> Result<(), HostFail> {
    let k = board.index[&ctx.node().name];
    let (cas, bin, port, pid) = (
        sh_quote(CAS),
        sh_quote(RELAY),
        sh_quote(PORT_FILE),
        sh_quote(PID_FILE),
    );
    let stop = stop_script();
    let script = format!(
        "mkdir -p {cas}; {stop} rm -f {port}; install -m 0755 {cas}/{relay} {bin}; \
         setsid {bin} serve {cas} {port} 600 14400 </dev/null >/dev/null 2>&1 & echo $! > {pid}; \
         for i in $(seq 50); do [ -s {port} ] && break; sleep 0.1; done; echo \"port=$(cat {port} 2>/dev/null)\"; \
         for f in {cas}/*; do [ -f \"$f\" ] && echo \"held=${{f##*/}} $(sha256sum < \"$f\" | cut -c1-64)\"; done; true"
    );
    let out = ctx.perform(Action {
        describe: "start the relay that serves this host's cache".into(),
        script,
        stdin: None,
        timeout: Some(Duration::from_secs(600)),
        mutates: true,
        sensitive: false,
    })?;
    let Some(out) = out else { return Ok(()) };
    let text = out.stdout_text();
    let port = (text.lines())
        .find_map(|l| l.strip_prefix("port="))
        .filter(|p| !p.is_empty());
    let address = ctx.node().reach_address().map(str::to_string);
    let relay = match (port, address) {
        (Some(p), Some(a)) if a.contains(':') => Some(format!("[{a}]:{p}")),
        (Some(p), Some(a)) => Some(format!("{a}:{p}")),
        _ => None,
    };
    let held: Vec<String> = (text.lines())
        .filter_map(|l| l.strip_prefix("held="))
        .filter_map(|l| {
            l.split_once(' ')
                .filter(|(n, h)| n == h)
                .map(|(n, _)| n.to_string())
        })
        .collect();
    board.relay_up(k, relay, &held);
    Ok(())
}

/// Exit status of the fetch when its source failed (unreachable, refused,
/// cut short, or the wrong bytes): that source serves no one after.
const SOURCE_FAILED: i32 = 3;

/// Fetches `digests` from `addr` into the cache in one relay process,
/// checks them all with one `sha256sum -c`, and renames those that match
/// into place, saying `got <digest>` for each: a constant number of
/// processes per batch, however many small packages it holds. A source
/// that fails or sends the wrong bytes is `SOURCE_FAILED`.
fn fetch_script(addr: &str, digests: &[String]) -> String {
    let (cas, bin, a) = (sh_quote(CAS), sh_quote(RELAY), sh_quote(addr));
    let list: Vec<String> = digests.iter().map(|d| sh_quote(d)).collect();
    let list = list.join(" ");
    format!(
        "mkdir -p {cas} && cd {cas} || exit 1; rm -f .*.part; {bin} get {a} {list}; rc=$?; \
         for d in {list}; do [ -f \".$d.part\" ] && printf '%s  %s\\n' \"$d\" \".$d.part\"; done | sha256sum -c 2>/dev/null \
         | while IFS=: read -r f r; do if [ \"$r\" = ' OK' ]; then n=${{f#.}}; n=${{n%.part}}; mv -f -- \"$f\" \"$n\"; echo \"got $n\"; fi; done; \
         bad=$(ls -A | grep -c '[.]part$'); rm -f .*.part; \
         if [ \"$bad\" != 0 ]; then echo \"$bad file(s) from {addr} did not match their sha256\" >&2; exit {SOURCE_FAILED}; fi; \
         [ $rc = 0 ] || exit {SOURCE_FAILED}"
    )
}

/// Fetches every file the host lacks, a batch at a time, each batch from
/// the source the board gives.
fn fetch_all(ctx: &mut HostCtx, board: &Board, taskbox: &str) -> Result<(), HostFail> {
    if ctx.dry_run() {
        return Ok(());
    }
    let k = board.index[&ctx.node().name];
    while let Some(c) = board.claim(k, None)? {
        let addr = c.relay.clone().unwrap_or_else(|| taskbox.to_string());
        let out = ctx.perform(Action {
            describe: format!(
                "fetch {} file(s), {} bytes, from {addr}",
                c.digests.len(),
                c.bytes
            ),
            script: fetch_script(&addr, &c.digests),
            stdin: None,
            // At least 1 MB/s, and a minute more.
            timeout: Some(Duration::from_secs(60 + c.bytes / 1_000_000)),
            mutates: true,
            sensitive: false,
        });
        let (rc, arrived) = match &out {
            Ok(Some(o)) => {
                let text = o.stdout_text();
                let got = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("got "))
                    .map(str::to_string);
                (o.rc, got.collect::<Vec<_>>())
            }
            _ => (-1, Vec::new()),
        };
        board.finish(k, &c, &arrived, rc == SOURCE_FAILED);
        if !arrived.is_empty() {
            ctx.set_changed();
        }
        match (rc, c.source) {
            (0, _) | (SOURCE_FAILED, Source::Host(_)) => {}
            _ => {
                let why = match out {
                    Ok(Some(o)) => o.stderr_text().trim().to_string(),
                    Ok(None) => "not run".into(),
                    Err(e) => e.to_string(),
                };
                return Err(HostFail::Failed(format!("fetching from {addr}: {why}")));
            }
        }
    }
    Ok(())
}

/// This machine's server as `ctx`'s host reaches it.
fn taskbox_for(ctx: &HostCtx, server: &TaskboxServer) -> Result<String, HostFail> {
    let ssh = match &ctx.node().connection {
        crate::model::Connection::Ssh(t) => t.address.clone(),
        _ => "127.0.0.1".to_string(),
    };
    server
        .address_for(&ssh)
        .ok_or_else(|| HostFail::Failed(format!("no route from this machine to {ssh}")))
}

/// The relay binary into the host's cache, unless it holds it: from a
/// host that serves it or from here, over bash's `/dev/tcp` (the relay is
/// what fetches everything else), checked against its digest.
fn fetch_relay(
    ctx: &mut HostCtx,
    board: &Board,
    taskbox: &str,
    relay: &str,
) -> Result<(), HostFail> {
    let k = board.index[&ctx.node().name];
    let c = sh_quote(&format!("{CAS}/{relay}"));
    let held = ctx.perform(Action {
        describe: "does the cache hold the relay".into(),
        script: format!(
            "[ -f {c} ] && [ \"$(sha256sum < {c} | cut -c1-64)\" = {relay} ] && echo held; true"
        ),
        stdin: None,
        timeout: Some(Duration::from_secs(60)),
        mutates: false,
        sensitive: false,
    })?;
    if held.is_some_and(|o| o.stdout_text().trim() == "held") || ctx.dry_run() {
        return Ok(());
    }
    loop {
        let claim = board
            .claim(k, Some(relay))?
            .expect("one file is always claimed");
        let addr = claim.relay.clone().unwrap_or_else(|| taskbox.to_string());
        let out = ctx.perform(Action {
            describe: format!("fetch the relay ({} bytes) from {addr}", claim.bytes),
            script: format!("bash -c {}", sh_quote(&bash_fetch(&addr, relay))),
            stdin: None,
            timeout: Some(Duration::from_secs(120)),
            mutates: true,
            sensitive: false,
        })?;
        let rc = out.as_ref().map_or(-1, |o| o.rc);
        // Arrived, it counts as a copy at once: served once the relay runs.
        let arrived = [relay.to_string()];
        let arrived = if rc == 0 { &arrived[..] } else { &[] };
        board.finish(k, &claim, arrived, rc == SOURCE_FAILED);
        match (rc, claim.source) {
            (0, _) => return Ok(()),
            (SOURCE_FAILED, Source::Host(_)) => continue,
            _ => {
                let why = out
                    .map(|o| o.stderr_text().trim().to_string())
                    .unwrap_or_default();
                return Err(HostFail::Failed(format!(
                    "fetching the relay from {addr}: {why}"
                )));
            }
        }
    }
}

/// One file from `addr` into the cache with nothing but bash: HTTP/1.0
/// over `/dev/tcp`, the headers read a byte at a time (so `cat` gets the
/// body from its first byte), the digest checked before the rename.
fn bash_fetch(addr: &str, digest: &str) -> String {
    let (cas, a) = (sh_quote(CAS), sh_quote(addr));
    format!(
        "mkdir -p {cas} && cd {cas} || exit 1; a={a}; h=${{a%:*}}; h=${{h#[}}; h=${{h%]}}; p=${{a##*:}}; t=.{digest}.part; \
         exec 3<>\"/dev/tcp/$h/$p\" || exit {SOURCE_FAILED}; \
         printf 'GET /cas/%s HTTP/1.0\\r\\n\\r\\n' {digest} >&3; \
         IFS= read -r s <&3 || exit {SOURCE_FAILED}; case \"$s\" in *' 200 '*) ;; *) exit {SOURCE_FAILED};; esac; \
         while IFS= read -r l <&3; do [ -z \"${{l%$'\\r'}}\" ] && break; done; \
         cat <&3 > \"$t\"; exec 3<&-; \
         if [ \"$(sha256sum < \"$t\" | cut -c1-64)\" != {digest} ]; then rm -f \"$t\"; echo \"the relay from $a does not match its sha256\" >&2; exit {SOURCE_FAILED}; fi; \
         mv -f \"$t\" {digest}"
    )
}

/// Stops the relay by its PID, when that PID is still the relay (a PID
/// the kernel gave to another program since is left alone).
fn stop_script() -> String {
    let pid = sh_quote(PID_FILE);
    format!(
        "p=$(cat {pid} 2>/dev/null); if [ -n \"$p\" ] && grep -q ksinstall-relay /proc/\"$p\"/cmdline 2>/dev/null; then kill \"$p\"; fi; rm -f {pid};"
    )
}

fn stop_relay(ctx: &mut HostCtx) -> Result<(), HostFail> {
    ctx.perform(Action {
        describe: "stop the relay".into(),
        script: format!("{} rm -f {}; true", stop_script(), sh_quote(PORT_FILE)),
        stdin: None,
        timeout: Some(Duration::from_secs(30)),
        mutates: true,
        sensitive: false,
    })?;
    Ok(())
}

/// The figures, on the screen.
pub fn print(f: &Figures) {
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "bundle served to {} hosts in {:.1} s: {} files ({:.0} MB), {:.0} MB delivered, {:.0} MB from this machine ({:.2}x the files)",
        f.hosts,
        f.seconds,
        f.files,
        mb(f.bundle_bytes),
        mb(f.delivered),
        mb(f.taskbox_bytes),
        f.taskbox_bytes as f64 / f.bundle_bytes.max(1) as f64
    );
    if !f.no_relay.is_empty() {
        log::warn!(
            "no relay ran on {} (they served no other host)",
            f.no_relay.join(", ")
        );
    }
    if !f.incomplete.is_empty() {
        log::warn!(
            "{} did not get all of it: the phases push the rest over SSH",
            f.incomplete.join(", ")
        );
    }
}

/// Each host's bundle files: what the packages phase pushes (its
/// repository, its binaries) and what the runtime phase imports (images),
/// as asked. Only files of the bundle (content made here is not served).
pub fn wants(
    off: &super::phases::Offline,
    packages: bool,
    runtime: bool,
) -> BTreeMap<String, Vec<Blob>> {
    let mut wants: BTreeMap<String, Vec<Blob>> = BTreeMap::new();
    let mut add = |m: &BTreeMap<String, Vec<(String, Blob)>>, yes: bool| {
        for (host, files) in m.iter().filter(|_| yes) {
            let blobs = files
                .iter()
                .map(|(_, b)| b.clone())
                .filter(|b| b.path().is_some());
            wants.entry(host.clone()).or_default().extend(blobs);
        }
    };
    add(&off.repo_files, packages);
    add(&off.binaries, packages);
    add(&off.images, runtime);
    wants
}

/// `ksinstall stage`: every host's part of the bundle (as the install
/// would push it, every phase) into its cache; or, with `list`, the files
/// printed per host (`host<TAB>bundle-relative path`).
pub fn stage(
    cluster: crate::model::Cluster,
    opts: &super::run::RunOptions,
    list: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let dir = (opts.bundle.clone())
        .ok_or_else(|| anyhow!("no bundle: give --bundle DIR (`ksinstall bundle build`)"))?;
    let mut report = crate::diag::Report::default();
    let facts = BTreeMap::new();
    let off = super::offline::load(&dir, &cluster, &facts, true, None, &mut report)?;
    let wants = wants(&off, true, true);
    if list {
        for (host, blobs) in &wants {
            for b in blobs {
                let p = b.path().expect("files only");
                println!("{host}\t{}", p.strip_prefix(&dir).unwrap_or(p).display());
            }
        }
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let (_lock, engine) = super::run::begin(&cluster, opts, "stage")?;
    let f = distribute(&engine, &wants)?;
    print(&f);
    engine.close_all();
    Ok(match f.incomplete.is_empty() {
        true => std::process::ExitCode::SUCCESS,
        false => std::process::ExitCode::from(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` hosts that all want the same `files` files of 1 KB.
    fn board(n: usize, files: usize) -> (Board, Vec<String>) {
        let blobs: Vec<Blob> = (0..files).map(|i| Blob::new(vec![i as u8; 1000])).collect();
        let names: Vec<String> = (1..=n).map(|i| format!("node{i}")).collect();
        let wants = names.iter().map(|h| (h.clone(), blobs.clone())).collect();
        let b = Board::new(&names, &wants, &Blob::new(b"relay".to_vec()));
        for k in 0..n {
            b.relay_up(k, Some(format!("10.0.0.{k}:1")), &[]);
        }
        (b, names)
    }

    /// Every host claims in turn and each fetch succeeds at once (the
    /// failing source in `bad`, when given, fails its first fetch).
    fn run(b: &Board, n: usize, bad: Option<usize>) -> HashMap<String, usize> {
        let mut from_taskbox: HashMap<String, usize> = HashMap::new();
        let mut failed_once = false;
        for _round in 0..1000 {
            let mut any = false;
            for k in 0..n {
                let Some(c) = b.claim(k, None).unwrap() else {
                    continue;
                };
                any = true;
                let fail = bad.is_some_and(|h| c.source == Source::Host(h)) && !failed_once;
                if fail {
                    failed_once = true;
                    b.finish(k, &c, &[], true);
                    continue;
                }
                if c.source == Source::Taskbox {
                    for d in &c.digests {
                        *from_taskbox.entry(d.clone()).or_default() += 1;
                    }
                }
                b.finish(k, &c, &c.digests, false);
            }
            if !any {
                break;
            }
        }
        from_taskbox
    }

    #[test]
    fn each_file_leaves_this_machine_about_twice_whatever_the_hosts() {
        let (b, _) = board(50, 40);
        let sent = run(&b, 50, None);
        let st = b.state.lock().unwrap();
        assert!(
            st.pending.iter().all(Vec::is_empty),
            "every host has every file"
        );
        assert_eq!(sent.len(), 40);
        assert!(sent.values().all(|&n| n <= TASKBOX_COPIES), "{sent:?}");
        assert_eq!(st.delivered, 50 * 40 * 1000);
    }

    #[test]
    fn a_source_that_fails_serves_no_one_after() {
        let (b, _) = board(6, 3);
        run(&b, 6, Some(0));
        let st = b.state.lock().unwrap();
        assert!(st.pending.iter().all(Vec::is_empty));
        assert!(st.hosts[0].relay.is_none());
        assert!(
            st.holders.values().all(|h| !h.contains(&0)),
            "{:?}",
            st.holders
        );
    }

    #[test]
    fn a_batch_is_one_source_and_bounded() {
        let (b, _) = board(2, 100);
        let c = b.claim(0, None).unwrap().unwrap();
        assert_eq!(c.source, Source::Taskbox);
        assert_eq!(c.digests.len(), BATCH_FILES);
        b.finish(0, &c, &c.digests, false);
        // Host 2 gets those from host 1 first, the rest from here.
        let c = b.claim(1, None).unwrap().unwrap();
        assert_eq!(c.source, Source::Host(0));
        assert_eq!(c.relay.as_deref(), Some("10.0.0.0:1"));
    }
}
