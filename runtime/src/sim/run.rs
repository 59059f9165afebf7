//! Running a simulation: one actix System on a current-thread tokio runtime whose clock starts
//! paused, so timers fire in virtual time and the clock jumps ahead whenever every task waits.

use std::future::Future;

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
    system.block_on(fut)
}
