//! Running a simulation: one actix System on a current-thread tokio runtime whose clock starts
//! paused, so timers fire in virtual time and the clock jumps ahead whenever every task waits.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

thread_local! {
    /// When the simulation running on this thread started, in its virtual clock.
    static STARTED: Cell<Option<tokio::time::Instant>> = const { Cell::new(None) };
}

/// How much virtual time has passed since the simulation running on this thread started
/// (`None` outside one). Log lines and reports use it to say when something happened.
pub fn virtual_elapsed() -> Option<Duration> {
    STARTED.with(Cell::get).map(|started| started.elapsed())
}

/// Runs `fut` to completion inside a fresh actix System in paused virtual time, and returns its
/// output. Everything the simulated network and its actors do must happen inside.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let system = actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread tokio runtime with paused time builds on any platform")
    });
    system.block_on(async {
        let outer = STARTED.with(|s| s.replace(Some(tokio::time::Instant::now())));
        let output = fut.await;
        STARTED.with(|s| s.set(outer));
        output
    })
}
