//! Who orders a file's record appends now: the primary of its last chunk's lease (§3.1), as
//! the master names it. For inspection (a real cluster's tests kill that primary's process).

use super::{GfsClient, GfsError};
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::gfs::{LeaseInfo, MasterOp, MasterRefusal, MasterReply};

impl GfsClient {
    /// The index of `path`'s last chunk and its lease (the master grants one if none runs).
    /// A file without chunks has no lease: refused with [`MasterRefusal::NoChunkAt`].
    pub async fn last_chunk_lease(
        &mut self,
        path: &str,
        deadline: Duration,
    ) -> Result<(u64, LeaseInfo), GfsError> {
        let end = Instant::now() + deadline;
        let chunks = self.chunks(path, deadline).await?;
        let Some(index) = chunks.checked_sub(1) else {
            return Err(GfsError::Refused(MasterRefusal::NoChunkAt { index: 0 }));
        };
        let left = end.saturating_duration_since(Instant::now());
        let location = self.locate(path, index, false, left).await?;
        let left = end.saturating_duration_since(Instant::now());
        let op = MasterOp::Lease {
            handle: location.handle,
        };
        match self.master(op, left).await {
            Ok((MasterReply::Lease(lease), _)) => Ok((index, lease)),
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout {
                maybe_applied: false,
            }),
        }
    }
}
