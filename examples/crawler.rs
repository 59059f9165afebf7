//! Crawler: the concurrent web crawler of MIT 6.824's lecture 2, as actors on three nodes.
//!
//! Run it with `cargo run --example crawler`.
//!
//! The lecture crawls a fake web (a fixed map from URL to links) twice: with a mutex-protected
//! `fetched` map shared by goroutines, and with channels, where one coordinator owns the map
//! and workers only send back the links they found. This is the channel version with actors:
//!
//! - Fetcher actors (two per node, three nodes) each own a copy of the fake fetcher and answer a
//!   `Fetch` with the page's links or "not found". They keep no state between requests.
//! - The coordinator (on n1) owns the only crawl state: which URLs it has already seen. It hands
//!   each unseen URL to the next fetcher, round robin, with `node.call` and a deadline, and the
//!   crawl is over when no fetch is outstanding. No mutex: its handlers run one at a time.
//!
//! The crawl runs twice: on a reliable network, then on 6.824's unreliable one (10% loss, up to
//! 27 ms of delay). There some calls time out; the coordinator retries on another fetcher, and
//! since a fetch is idempotent the retry is harmless and the result is the same.

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, ResponseFuture, WrapFuture};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::Wire;
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node, NodeId};

const NODES: u32 = 3;
const FETCHERS_PER_NODE: u32 = 2;
/// How long the coordinator waits for one fetch; a round trip takes at most 54 ms here.
const FETCH_DEADLINE: Duration = Duration::from_millis(100);
/// Attempts per URL before the coordinator gives up on it.
const MAX_ATTEMPTS: u32 = 10;
const START: &str = "http://golang.org/";

/// What a fetcher answers: the page's links, or why it could not fetch the page.
type FetchResult = Result<Vec<String>, String>;

/// Fetch a page.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "FetchResult")]
struct Fetch(String);
impl Wire for Fetch {
    const TAG: &'static str = "crawler.fetch";
}

/// Crawl from a start page; the answer comes once the crawl is over.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "Result<Report, String>")]
struct Crawl(String);
impl Wire for Crawl {
    const TAG: &'static str = "crawler.crawl";
}

/// What a crawl found.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Report {
    fetched: BTreeSet<String>,
    missing: BTreeSet<String>,
    /// Calls that got no answer in time (or no answer at all) and were retried.
    retries: u32,
}

/// A page of the fake web: its body and the links on it.
type Page = (&'static str, Vec<&'static str>);

/// The lecture's fake fetcher: URL -> page. `/cmd/` is linked to but does not exist.
#[rustfmt::skip]
fn fake_web() -> BTreeMap<&'static str, Page> {
    BTreeMap::from([
        ("http://golang.org/", ("The Go Programming Language",
            vec!["http://golang.org/pkg/", "http://golang.org/cmd/"])),
        ("http://golang.org/pkg/", ("Packages",
            vec!["http://golang.org/", "http://golang.org/cmd/",
                 "http://golang.org/pkg/fmt/", "http://golang.org/pkg/os/"])),
        ("http://golang.org/pkg/fmt/", ("Package fmt",
            vec!["http://golang.org/", "http://golang.org/pkg/"])),
        ("http://golang.org/pkg/os/", ("Package os",
            vec!["http://golang.org/", "http://golang.org/pkg/"])),
    ])
}

/// A worker: looks pages up in its own copy of the fake web.
struct Fetcher {
    web: BTreeMap<&'static str, Page>,
}

impl Actor for Fetcher {
    type Context = Context<Self>;
}

impl Handler<Fetch> for Fetcher {
    type Result = FetchResult;
    fn handle(&mut self, msg: Fetch, _: &mut Context<Self>) -> Self::Result {
        match self.web.get(msg.0.as_str()) {
            Some((_body, links)) => Ok(links.iter().map(|l| l.to_string()).collect()),
            None => Err("not found".into()),
        }
    }
}

/// The coordinator: the only one who knows what has been crawled.
struct Coordinator {
    node: Node,
    fetchers: Vec<ActorPath>,
    /// Round-robin cursor into `fetchers`.
    next: usize,
    /// Every URL ever dispatched: the lecture's `fetched` map, owned by one actor.
    seen: BTreeSet<String>,
    /// URLs dispatched whose answer has not come back yet; zero means done.
    outstanding: usize,
    report: Report,
    /// Where the finished report goes (the pending `Crawl` call).
    done: Option<oneshot::Sender<Report>>,
}

impl Actor for Coordinator {
    type Context = Context<Self>;
}

impl Coordinator {
    fn log(&self, what: String) {
        println!("  [{:4} ms] {what}", self.node.now_ns() / 1_000_000);
    }

    /// Dispatches `url` unless it was seen before.
    fn visit(&mut self, url: String, ctx: &mut Context<Self>) {
        if self.seen.insert(url.clone()) {
            self.outstanding += 1;
            self.dispatch(url, 1, ctx);
        }
    }

    /// Asks the next fetcher for `url`. The call runs as a future of this actor, so while it is
    /// in flight the coordinator keeps handling other answers: the fetches run concurrently.
    fn dispatch(&mut self, url: String, attempt: u32, ctx: &mut Context<Self>) {
        let fetcher = self.fetchers[self.next % self.fetchers.len()].clone();
        self.next += 1;
        self.log(format!("fetch {url} on {fetcher} (attempt {attempt})"));
        let node = self.node.clone();
        let msg = Fetch(url.clone());
        let call = async move { node.call(&fetcher, msg, FETCH_DEADLINE).await };
        // `map` brings the answer back inside the actor, with `&mut self`: no lock needed.
        ctx.spawn(
            call.into_actor(self)
                .map(move |answer, act, ctx| act.on_answer(url, attempt, answer, ctx)),
        );
    }

    fn on_answer(
        &mut self,
        url: String,
        attempt: u32,
        answer: troupe_runtime::Result<FetchResult>,
        ctx: &mut Context<Self>,
    ) {
        match answer {
            Ok(Ok(links)) => {
                self.log(format!("found {url}: {} links", links.len()));
                self.report.fetched.insert(url);
                links.into_iter().for_each(|link| self.visit(link, ctx));
            }
            Ok(Err(why)) => {
                self.log(format!("{url}: {why}"));
                self.report.missing.insert(url);
            }
            // No answer in time does not say whether the fetch ran; fetching twice is harmless,
            // so ask another fetcher. `outstanding` is unchanged: the URL is still in progress.
            Err(e) if attempt < MAX_ATTEMPTS => {
                self.log(format!("no answer for {url}: {e}; retrying"));
                self.report.retries += 1;
                return self.dispatch(url, attempt + 1, ctx);
            }
            Err(e) => {
                self.log(format!("giving up on {url} after {attempt} attempts: {e}"));
            }
        }
        // One URL fewer in progress; when none is left, the crawl is over.
        self.outstanding -= 1;
        if self.outstanding == 0 {
            if let Some(done) = self.done.take() {
                // If the caller has given up, nobody wants the report: nothing to do.
                let _ = done.send(std::mem::take(&mut self.report));
            }
        }
    }
}

impl Handler<Crawl> for Coordinator {
    type Result = ResponseFuture<Result<Report, String>>;
    fn handle(&mut self, msg: Crawl, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.done = Some(tx);
        self.visit(msg.0, ctx);
        // The handler returns at once; the caller's answer is completed by `on_answer`.
        Box::pin(async move { rx.await.map_err(|_| "the crawl was abandoned".to_string()) })
    }
}

/// What every node runs: its fetchers; n1 also runs the coordinator.
fn topology(node: &Node) {
    for i in 1..=FETCHERS_PER_NODE {
        node.spawn_named(&format!("fetcher-{i}"), Fetcher { web: fake_web() })
            .expect("the name is free on a fresh node")
            .accept::<Fetch>();
    }
    if node.id() == NodeId(1) {
        // Interleaved by node, so that round robin spreads consecutive fetches across nodes.
        let fetchers = (1..=FETCHERS_PER_NODE)
            .flat_map(|i| (1..=NODES).map(move |n| (n, i)))
            .map(|(n, i)| ActorPath::new(NodeId(n), format!("fetcher-{i}")))
            .collect();
        let coordinator = Coordinator {
            node: node.clone(),
            fetchers,
            next: 0,
            seen: BTreeSet::new(),
            outstanding: 0,
            report: Report::default(),
            done: None,
        };
        node.spawn_named("coordinator", coordinator)
            .expect("the name is free on a fresh node")
            .accept::<Crawl>();
    }
}

/// One crawl on a fresh three-node cluster whose links behave as `faults` says.
fn crawl(seed: u64, faults: LinkFaults) -> Report {
    block_on(async {
        let cluster = Cluster::builder(seed)
            .nodes(NODES)
            .faults(faults)
            .topology(topology)
            .build();
        let n1 = cluster.up(1);
        let (coordinator, deadline) = (n1.path("coordinator"), Duration::from_secs(60));
        let report = n1
            .call(&coordinator, Crawl(START.into()), deadline)
            .await
            .expect("the coordinator answers within a virtual minute")
            .expect("the crawl finishes");
        let (stats, retries) = (cluster.stats(), report.retries);
        let (sent, dropped) = (stats.sent, stats.dropped());
        println!("  network: {sent} messages sent, {dropped} lost; {retries} fetches retried");
        println!("  fetched: {:?}", report.fetched);
        println!("  missing: {:?}", report.missing);
        report
    })
}

fn main() {
    println!("crawl 1: a reliable network");
    let reliable = crawl(1, LinkFaults::reliable());
    println!("\ncrawl 2: an unreliable network (10% loss, 0-27 ms delay)");
    let unreliable = crawl(6, LinkFaults::unreliable());

    // The 4 existing pages reachable from the start page, and the one missing page.
    let page = |p: &str| format!("http://golang.org/{p}");
    let expected: BTreeSet<String> = ["", "pkg/", "pkg/fmt/", "pkg/os/"].map(page).into();
    assert_eq!(reliable.fetched, expected, "fetched pages");
    assert_eq!(reliable.missing, [page("cmd/")].into(), "missing pages");
    // Nothing is lost on a reliable network; on the unreliable one some calls time out, and
    // retrying them makes the crawl find exactly the same pages.
    assert_eq!(reliable.retries, 0, "no retries on a reliable network");
    assert!(unreliable.retries > 0, "calls time out");
    assert_eq!(unreliable.fetched, reliable.fetched);
    assert_eq!(unreliable.missing, reliable.missing);
    println!("\nboth crawls found the same 4 pages and the same missing one");
}
