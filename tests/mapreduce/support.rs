//! Helpers for MapReduce tests on real processes: job directories, the Gutenberg inputs, the
//! sequential reference, a coordinator and workers as processes (`troupe mr coordinator`,
//! `troupe mr worker`), and waiting with deadlines (never sleeping to wait).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any job of these tests may take before it counts as stuck.
pub const JOB_DEADLINE: Duration = Duration::from_secs(180);

/// The troupe program.
pub fn troupe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_troupe"))
}

/// The Gutenberg inputs, in name order.
pub fn inputs() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gutenberg");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/gutenberg is in the repository")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

/// A fresh, empty directory for one job.
pub fn job_dir(name: &str) -> PathBuf {
    static DIRS: AtomicU64 = AtomicU64::new(0);
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("troupe-mr-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// The sorted lines of every `mr-out-*` in `dir`: `cat mr-out-* | sort`.
pub fn sorted_output(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the job directory") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("mr-out-")) {
            let text = std::fs::read_to_string(&path).expect("an output file");
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
}

/// `troupe mr sequential` with `functions` (e.g. `["--app", "wc"]`) over `files`: its lines,
/// sorted.
pub fn sequential(functions: &[&str], files: &[PathBuf]) -> Vec<String> {
    let out = job_dir("sequential");
    let run = troupe()
        .args(["mr", "sequential"])
        .args(functions)
        .arg("--out")
        .arg(&out)
        .args(files)
        .output()
        .expect("troupe runs");
    assert!(
        run.status.success(),
        "troupe mr sequential {functions:?}: {run:?}"
    );
    let lines = sorted_output(&out);
    let _ = std::fs::remove_dir_all(&out);
    lines
}

/// A process's stderr, collected by a thread as it comes.
#[derive(Clone, Default)]
pub struct Stderr(Arc<Mutex<Vec<String>>>);

impl Stderr {
    fn collect(child: &mut Child) -> Stderr {
        let lines = Stderr::default();
        if let Some(err) = child.stderr.take() {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    sink.0.lock().expect("not poisoned").push(line);
                }
            });
        }
        lines
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("not poisoned").clone()
    }
}

/// A coordinator process.
pub struct Coordinator {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Stderr,
}

/// Starts `troupe mr coordinator` for a job in `dir` with `args` (functions, flags, inputs),
/// listening on `listen`, and waits for the address it prints.
pub fn coordinator(dir: &Path, args: &[String], listen: &str) -> Coordinator {
    let mut child = troupe()
        .args(["mr", "coordinator", "--listen", listen, "--out"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("troupe mr coordinator starts");
    let stderr = Stderr::collect(&mut child);
    let stdout = child.stdout.take().expect("its stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("the coordinator prints its address");
    let addr = first
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not an address: {first:?}; stderr: {:?}", stderr.lines()));
    Coordinator {
        child,
        addr,
        stderr,
    }
}

/// Starts `troupe mr worker` for the coordinator at `addr`, working in `dir`.
pub fn worker(addr: SocketAddr, dir: &Path) -> Child {
    troupe()
        .args(["mr", "worker", "--coordinator", &addr.to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("troupe mr worker starts")
}

/// Waits until every process in `children` has exited; their statuses.
pub fn wait_all(children: &mut [Child], within: Duration) -> Vec<ExitStatus> {
    let deadline = Instant::now() + within;
    let mut statuses = vec![None; children.len()];
    while statuses.iter().any(Option::is_none) {
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait().expect("a child to wait for");
            }
        }
        if Instant::now() > deadline {
            for child in children.iter_mut() {
                let _ = child.kill();
            }
            panic!("processes still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    statuses.into_iter().flatten().collect()
}

/// Waits until one process in `children` has exited; its index.
pub fn wait_any(children: &mut [Child], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        for (i, child) in children.iter_mut().enumerate() {
            if child.try_wait().expect("a child to wait for").is_some() {
                return i;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no process exited within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a job with a coordinator and `workers` worker processes, as test-mr.sh does; returns
/// the coordinator's stderr once every process has exited.
pub fn run_job(dir: &Path, args: &[String], workers: usize) -> Vec<String> {
    let mut coordinator = coordinator(dir, args, "127.0.0.1:0");
    let mut children: Vec<Child> = (0..workers)
        .map(|_| worker(coordinator.addr, dir))
        .collect();
    let statuses = wait_all(&mut children, JOB_DEADLINE);
    let status = wait_all(std::slice::from_mut(&mut coordinator.child), JOB_DEADLINE);
    assert!(
        status[0].success(),
        "coordinator: {:?}",
        coordinator.stderr.lines()
    );
    assert!(
        statuses.iter().all(ExitStatus::success),
        "workers: {statuses:?}"
    );
    coordinator.stderr.lines()
}

/// `--app NAME` and the Gutenberg inputs, as arguments.
pub fn app_job(app: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--app".to_string(), app.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(inputs().iter().map(|p| p.display().to_string()));
    args
}
