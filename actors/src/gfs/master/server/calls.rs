//! The master's orders to chunkservers, sent to several at once and awaited together within
//! one deadline.

use crate::gfs::CHUNKSERVER;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use troupe_messages::gfs::ChunkAck;
use troupe_messages::{ActorPath, NodeId, Wire};
use troupe_runtime::Node;

/// Polls every future until all are done; their outputs in the order given.
pub async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T>>>>) -> Vec<T> {
    let mut running: Vec<Option<Pin<Box<dyn Future<Output = T>>>>> =
        futures.into_iter().map(Some).collect();
    let mut done: Vec<Option<T>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        for (slot, out) in running.iter_mut().zip(done.iter_mut()) {
            if let Some(future) = slot {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    *out = Some(value);
                    *slot = None;
                }
            }
        }
        if running.iter().all(Option::is_none) {
            Poll::Ready(done.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// How many times an unanswered order is sent within its deadline.
pub const ORDER_TRIES: u32 = 3;

/// Sends each order to its chunkserver at once and waits up to `timeout` for all: the servers
/// that answered `Done`, in the order given. An order that goes unanswered is sent again, up
/// to [`ORDER_TRIES`] times in all, each try given an equal share of `timeout` (every order is
/// idempotent: a lost reply to one that took effect must not cost the replica its place). A
/// refusal is final.
pub async fn order_all<M>(node: &Node, orders: Vec<(NodeId, M)>, timeout: Duration) -> Vec<NodeId>
where
    M: Wire<Result = ChunkAck> + Clone,
{
    let per_try = timeout / ORDER_TRIES;
    let calls: Vec<Pin<Box<dyn Future<Output = Option<NodeId>>>>> = orders
        .into_iter()
        .map(|(server, order)| {
            let node = node.clone();
            let call = async move {
                let path = ActorPath::new(server, CHUNKSERVER);
                for _ in 1..ORDER_TRIES {
                    match node.call(&path, order.clone(), per_try).await {
                        Ok(ChunkAck::Done) => return Some(server),
                        Ok(ChunkAck::Failed(why)) => {
                            tracing::debug!(%server, "chunkserver refused the master: {why}");
                            return None;
                        }
                        Err(e) => tracing::trace!(%server, "order unanswered, sent again: {e}"),
                    }
                }
                match node.call(&path, order, per_try).await {
                    Ok(ChunkAck::Done) => Some(server),
                    Ok(ChunkAck::Failed(why)) => {
                        tracing::debug!(%server, "chunkserver refused the master: {why}");
                        None
                    }
                    Err(e) => {
                        tracing::debug!(%server, "chunkserver did not answer the master: {e}");
                        None
                    }
                }
            };
            Box::pin(call) as Pin<Box<dyn Future<Output = Option<NodeId>>>>
        })
        .collect();
    join_all(calls).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_all_keeps_the_order_given() {
        let futures: Vec<Pin<Box<dyn Future<Output = u32>>>> = (0..4u32)
            .map(|i| Box::pin(async move { i * 10 }) as Pin<Box<dyn Future<Output = u32>>>)
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(join_all(futures)), vec![0, 10, 20, 30]);
    }
}
