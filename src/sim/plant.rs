//! `troupe sim ... --plant BUG`: arms one of the runtime's planted bugs
//! ([`troupe_runtime::plant`]) for this run, or lists them with `--plant list`.

use anyhow::Result;
use troupe_runtime::plant::{self, Bug};

/// Arms `name` on this thread, the one the simulation runs on. `Ok(true)` when `name` was
/// `list` and the bugs were printed instead (nothing to run).
pub fn arm(name: &str) -> Result<bool> {
    if name == "list" {
        for bug in Bug::ALL {
            println!("{}\t{}\t{}", bug.name(), bug.system(), bug.description());
        }
        return Ok(true);
    }
    plant::arm(Bug::named(name)?)?;
    Ok(false)
}
