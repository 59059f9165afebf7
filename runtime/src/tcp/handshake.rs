//! The handshake two nodes run on a new TCP connection before anything else: each names its
//! cluster and node, and each proves it knows the cluster's shared secret with an HMAC-SHA256
//! over both sides' fresh nonces (so a recorded handshake cannot be replayed). A peer that fails
//! gets a clear refusal and the connection is closed; nothing it sent is delivered.
//!
//! ```text
//! dialer  -> Hello     { cluster, node, nonce_d }
//! listener-> Challenge { cluster, node, nonce_l, mac(secret, "listener", nonce_d, nonce_l, ..) }
//! dialer  -> Proof     { mac(secret, "dialer", nonce_l, nonce_d, ..) }
//! listener-> Welcome   (or Refused { reason } at any step)
//! ```

use crate::{decode, encode, Error, Result};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use troupe_messages::NodeId;

/// Who this node is, and the cluster's shared secret.
#[derive(Clone)]
pub struct Credentials {
    /// The cluster's name; peers of another cluster are refused.
    pub cluster: String,
    /// This node.
    pub node: NodeId,
    /// The shared secret.
    pub secret: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Step {
    Hello {
        cluster: String,
        node: NodeId,
        nonce: [u8; 32],
    },
    Challenge {
        cluster: String,
        node: NodeId,
        nonce: [u8; 32],
        mac: Vec<u8>,
    },
    Proof {
        mac: Vec<u8>,
    },
    Welcome,
    Refused {
        reason: String,
    },
}

type Stream<S> = Framed<S, LengthDelimitedCodec>;

fn mac(
    creds: &Credentials,
    role: &str,
    first: &[u8; 32],
    second: &[u8; 32],
    node: NodeId,
) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&creds.secret)
        .expect("HMAC takes keys of any length");
    for part in [
        role.as_bytes(),
        first,
        second,
        creds.cluster.as_bytes(),
        &node.0.to_be_bytes(),
    ] {
        mac.update(&(part.len() as u32).to_be_bytes());
        mac.update(part);
    }
    mac
}

fn refused(reason: impl Into<String>) -> Error {
    Error::Handshake(reason.into())
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    step: &Step,
) -> Result<()> {
    let bytes = encode(step)?;
    stream
        .send(tokio_util::bytes::Bytes::from(bytes))
        .await
        .map_err(|e| refused(format!("connection failed: {e}")))
}

async fn receive<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut Stream<S>) -> Result<Step> {
    match stream.next().await {
        Some(Ok(frame)) => {
            decode(&frame).map_err(|e| refused(format!("not a handshake message: {e}")))
        }
        Some(Err(e)) => Err(refused(format!("bad frame during the handshake: {e}"))),
        None => Err(refused(
            "the peer closed the connection during the handshake",
        )),
    }
}

async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    reason: String,
) -> Error {
    tracing::warn!("refused a peer: {reason}");
    // Best effort: the peer may already be gone.
    let _ = send(
        stream,
        &Step::Refused {
            reason: reason.clone(),
        },
    )
    .await;
    refused(reason)
}

fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

/// Runs the dialer's side; returns the authenticated peer's node id.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    creds: &Credentials,
    within: Duration,
) -> Result<NodeId> {
    tokio::time::timeout(within, async {
        let mine = nonce();
        send(
            stream,
            &Step::Hello {
                cluster: creds.cluster.clone(),
                node: creds.node,
                nonce: mine,
            },
        )
        .await?;
        let (peer, theirs, proof) = match receive(stream).await? {
            Step::Challenge {
                cluster,
                node,
                nonce,
                mac,
            } if cluster == creds.cluster => (node, nonce, mac),
            Step::Challenge { cluster, .. } => {
                return Err(refuse(
                    stream,
                    format!("peer is in cluster {cluster:?}, not {:?}", creds.cluster),
                )
                .await)
            }
            Step::Refused { reason } => {
                return Err(refused(format!("the peer refused us: {reason}")))
            }
            other => return Err(refuse(stream, format!("unexpected {other:?}")).await),
        };
        if mac(creds, "listener", &mine, &theirs, peer)
            .verify_slice(&proof)
            .is_err()
        {
            return Err(refuse(stream, format!("{peer} does not know the cluster secret")).await);
        }
        let answer = mac(creds, "dialer", &theirs, &mine, creds.node)
            .finalize()
            .into_bytes()
            .to_vec();
        send(stream, &Step::Proof { mac: answer }).await?;
        match receive(stream).await? {
            Step::Welcome => Ok(peer),
            Step::Refused { reason } => Err(refused(format!("the peer refused us: {reason}"))),
            other => Err(refuse(stream, format!("unexpected {other:?}")).await),
        }
    })
    .await
    .map_err(|_| refused("the handshake timed out"))?
}

/// Runs the listener's side; returns the authenticated peer's node id.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut Stream<S>,
    creds: &Credentials,
    within: Duration,
) -> Result<NodeId> {
    tokio::time::timeout(within, async {
        let hello = match receive(stream).await {
            Ok(hello) => hello,
            // Tell the sender why, if it is still listening.
            Err(Error::Handshake(reason)) => return Err(refuse(stream, reason).await),
            Err(e) => return Err(e),
        };
        let (peer, theirs) = match hello {
            Step::Hello {
                cluster,
                node,
                nonce,
            } if cluster == creds.cluster => (node, nonce),
            Step::Hello { cluster, .. } => {
                return Err(refuse(
                    stream,
                    format!("wrong cluster {cluster:?} (this is {:?})", creds.cluster),
                )
                .await)
            }
            other => {
                return Err(refuse(
                    stream,
                    format!("handshake out of order: expected a hello, got {other:?}"),
                )
                .await)
            }
        };
        let mine = nonce();
        let proof = mac(creds, "listener", &theirs, &mine, creds.node)
            .finalize()
            .into_bytes()
            .to_vec();
        send(
            stream,
            &Step::Challenge {
                cluster: creds.cluster.clone(),
                node: creds.node,
                nonce: mine,
                mac: proof,
            },
        )
        .await?;
        match receive(stream).await? {
            Step::Proof { mac: answer } => {
                if mac(creds, "dialer", &mine, &theirs, peer)
                    .verify_slice(&answer)
                    .is_err()
                {
                    return Err(refuse(stream, format!("{peer} presented a wrong secret")).await);
                }
            }
            Step::Refused { reason } => {
                return Err(refused(format!("the peer refused us: {reason}")))
            }
            other => return Err(refuse(stream, format!("expected a proof, got {other:?}")).await),
        }
        send(stream, &Step::Welcome).await?;
        Ok(peer)
    })
    .await
    .map_err(|_| refused("the handshake timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::frames::{framed, MAX_FRAME};

    fn creds(node: u32, secret: &[u8]) -> Credentials {
        Credentials {
            cluster: "test".into(),
            node: NodeId(node),
            secret: secret.to_vec(),
        }
    }

    async fn pair(dialer: Credentials, listener: Credentials) -> (Result<NodeId>, Result<NodeId>) {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (framed(a, MAX_FRAME), framed(b, MAX_FRAME));
        let t = Duration::from_secs(1);
        tokio::join!(dial(&mut a, &dialer, t), accept(&mut b, &listener, t))
    }

    #[tokio::test]
    async fn peers_with_the_secret_learn_each_other() {
        let (d, l) = pair(creds(1, b"s3cret"), creds(2, b"s3cret")).await;
        assert_eq!((d.unwrap(), l.unwrap()), (NodeId(2), NodeId(1)));
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_on_both_sides() {
        let (d, l) = pair(creds(1, b"guess"), creds(2, b"s3cret")).await;
        let (d, l) = (d.unwrap_err().to_string(), l.unwrap_err().to_string());
        assert!(d.contains("does not know the cluster secret"), "{d}");
        assert!(l.contains("refused"), "{l}");
    }

    #[tokio::test]
    async fn another_cluster_is_refused() {
        let mut other = creds(1, b"s3cret");
        other.cluster = "elsewhere".into();
        let (d, l) = pair(other, creds(2, b"s3cret")).await;
        assert!(l.unwrap_err().to_string().contains("wrong cluster"));
        assert!(d.unwrap_err().to_string().contains("refused us"));
    }

    #[tokio::test]
    async fn garbage_instead_of_a_hello_is_refused() {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (framed(a, MAX_FRAME), framed(b, MAX_FRAME));
        a.send(tokio_util::bytes::Bytes::from_static(&[
            0xde, 0xad, 0xbe, 0xef,
        ]))
        .await
        .unwrap();
        let err = accept(&mut b, &creds(2, b"s"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a handshake message"), "{err}");
    }
}
