//! ZooKeeper's own command-line client, zkCli.sh from Debian's zookeeper package (3.8, Apache's
//! Java client), unchanged, against a troupe ZooKeeper of three `troupe node` processes: it
//! creates, gets, sets, lists and deletes; and it keeps its data, child and exist watches
//! through the SIGKILL of the server it is connected to, as the Java client does: it sends
//! setWatches, with the last zxid it saw, to the server it reconnects to.

use super::support::{forward_lines, Processes};
use super::zk::{serves_sessions_within, start_all};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where Debian's zookeeper package puts ZooKeeper's command-line client.
const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// ZooKeeper's zkCli, installing Debian's zookeeper package (3.8) if it is missing.
fn zkcli() -> PathBuf {
    let path = PathBuf::from(ZKCLI);
    if !path.exists() {
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-q", "zookeeper"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let installed = install()
            || (Command::new("apt-get")
                .args(["update", "-q"])
                .output()
                .is_ok_and(|o| o.status.success())
                && install());
        assert!(
            installed && path.exists(),
            "zkCli is missing and could not be installed: apt-get install zookeeper (as root)"
        );
    }
    path
}

#[test]
fn zkcli_creates_gets_sets_lists_and_deletes() {
    let zkcli = zkcli();
    let mut cluster = Processes::init_with("zk-zkcli", 3, &["--system", "zk"]);
    let addr = start_all(&mut cluster)[1];
    // zkCli sends its commands as it reads them, connected or not: wait for a session first.
    serves_sessions_within(addr, Duration::from_secs(60));
    let script =
        "create /zc hello\nget /zc\nset /zc world\nget /zc\nls /\ndelete /zc\nls /\nquit\n";
    // zkCli retries its connection until the servers have a leader.
    let mut child = Command::new(zkcli)
        .args(["-server", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zkCli starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("zkCli reads its commands");
    let mut stdout = child.stdout.take().expect("stdout");
    let (status, stderr) = super::support::exit_within(child, Duration::from_secs(120), "zkCli");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("zkCli's output");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(status.success(), "zkCli: {status}\n{out}");
    // zkCli 3.8 reports a create on stderr, and the rest on stdout.
    assert!(
        stderr.lines().any(|l| l.trim() == "Created /zc"),
        "{stderr}"
    );
    let expected = ["hello", "world", "[zc, zookeeper]", "[zookeeper]"];
    let mut at = 0;
    for want in expected {
        match lines[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => panic!("zkCli did not print {want:?} in order:\n{out}"),
        }
    }
}

/// Reads `lines` until every one of `wanted` has appeared in some line (as a substring), or
/// panics after `within` with what was seen; the lines read are added to `seen`.
fn wait_for_lines(
    lines: &mpsc::Receiver<String>,
    wanted: &[&str],
    within: Duration,
    seen: &mut Vec<String>,
) {
    let deadline = Instant::now() + within;
    let mut missing: Vec<&str> = wanted.to_vec();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                missing.retain(|w| !line.contains(w));
                seen.push(line);
            }
            Err(_) => panic!(
                "zkCli did not print {missing:?} within {within:?}; it printed:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// Reads `lines` until one contains one of `patterns`; which one (its index). Panics after
/// `within`; the lines read are added to `seen`.
fn first_of(
    lines: &mpsc::Receiver<String>,
    patterns: &[&str],
    within: Duration,
    seen: &mut Vec<String>,
) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            panic!(
                "zkCli printed none of {patterns:?} within {within:?}; it printed:\n{}",
                seen.join("\n")
            );
        };
        let found = patterns.iter().position(|p| line.contains(p));
        seen.push(line);
        if let Some(i) = found {
            return i;
        }
    }
}

/// The Java client keeps its watches across the loss of its server: while it looks for
/// another, a client of the survivors changes what it watches; the server it reconnects to
/// gets setWatches with the last zxid it saw and must fire each watch whose change it has
/// (or keep it and fire it when the change arrives). A server that ignored setWatches, or
/// compared the wrong zxid, would leave zkCli without the events.
#[test]
fn zkcli_keeps_its_watches_through_the_kill_of_its_server() {
    use troupe_actors::zk::client::ZkClient;
    use troupe_messages::zk::CreateMode;
    let zkcli = zkcli();
    let mut cluster = Processes::init_with("zk-zkcli-watches", 3, &["--system", "zk"]);
    let hosts = start_all(&mut cluster);
    for addr in &hosts {
        serves_sessions_within(*addr, Duration::from_secs(60));
    }
    let connect: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    let mut child = Command::new(zkcli)
        .args(["-server", &connect.join(",")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zkCli starts");
    let (to, lines) = mpsc::channel();
    forward_lines(child.stdout.take().expect("stdout"), to.clone());
    forward_lines(child.stderr.take().expect("stderr"), to);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut seen = Vec::new();
    // A data watch and a child watch on /wf, and an exist watch on /wn, which is not there.
    stdin
        .write_all(b"create /wf value-before-the-kill\nget -w /wf\nls -w /wf\nstat -w /wn\n")
        .expect("zkCli reads its commands");
    let within = Duration::from_secs(60);
    wait_for_lines(
        &lines,
        &[
            "Created /wf",
            "value-before-the-kill",
            "Node does not exist: /wn",
        ],
        within,
        &mut seen,
    );
    // The server zkCli is connected to: the one node with a client connection.
    let deadline = Instant::now() + within;
    let victim = loop {
        let status = cluster.status_json();
        let connected: Vec<usize> = (0..hosts.len())
            .filter(|&i| status["nodes"][i]["connections"].as_u64().unwrap_or(0) > 0)
            .collect();
        if let [one] = connected[..] {
            break one;
        }
        assert!(
            Instant::now() < deadline,
            "not one server with zkCli's connection: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    cluster.kill(cluster.ids()[victim]);
    let survivors: Vec<_> = (0..hosts.len())
        .filter(|&i| i != victim)
        .map(|i| hosts[i])
        .collect();
    super::support::runtime().block_on(async {
        let secs = Duration::from_secs;
        let (zk, _) = ZkClient::connect(survivors, secs(6), secs(60))
            .await
            .expect("a session on a survivor");
        zk.set_data("/wf", b"value-after-the-kill", -1)
            .await
            .expect("set /wf");
        zk.create("/wf/c", b"", CreateMode::PERSISTENT)
            .await
            .expect("create /wf/c");
        zk.create("/wn", b"", CreateMode::PERSISTENT)
            .await
            .expect("create /wn");
        let _ = zk.close().await;
    });
    wait_for_lines(
        &lines,
        &[
            "type:NodeDataChanged path:/wf",
            "type:NodeChildrenChanged path:/wf",
            "type:NodeCreated path:/wn",
        ],
        within,
        &mut seen,
    );
    // The same session, on another server, reads what the survivor wrote. zkCli does not retry:
    // a server that loses its leader closes its connections (as ZooKeeper's followers do), and a
    // get during the election fails with ConnectionLoss; ask again until it is answered.
    let deadline = Instant::now() + within;
    loop {
        stdin
            .write_all(b"get /wf\n")
            .expect("zkCli reads its commands");
        let answer = first_of(
            &lines,
            &["value-after-the-kill", "ConnectionLoss"],
            within,
            &mut seen,
        );
        if answer == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "zkCli's get kept failing:\n{}",
            seen.join("\n")
        );
    }
    stdin
        .write_all(b"quit\n")
        .expect("zkCli reads its commands");
    drop(stdin);
    let (status, _) = super::support::exit_within(child, within, "zkCli");
    assert!(status.success(), "zkCli: {status}\n{}", seen.join("\n"));
}
