//! Optional TLS for node links and client ports (rustls): encryption and integrity on the wire.
//! Who may join is still decided by the HMAC handshake that runs inside the TLS tunnel; TLS adds
//! that nobody on the path can read or change the frames.
//!
//! A cluster has one private CA and one certificate for the name [`SERVER_NAME`], signed by it
//! and shared by every node (`troupe cluster init --tls` makes both). Every node and client
//! trusts that CA alone, so a TLS peer outside the cluster fails at the TLS handshake.

use crate::{Cause, Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The name in every node's certificate, and the one a dialer checks.
pub const SERVER_NAME: &str = "troupe-cluster";

/// A byte stream a frame codec can run on: plain TCP, or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection, plain or encrypted.
pub type BoxStream = Box<dyn Stream>;

/// A node's (or a client's) TLS setup: the cluster's CA to trust, and the certificate to show.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

fn tls_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Tls {
        context: what.to_string(),
        cause: Some(Cause::new(e)),
    }
}

impl Tls {
    /// From PEM text: the cluster's CA certificate, the node certificate (chain) and its key.
    pub fn from_pem(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Tls> {
        let parse_certs = |pem: &[u8], what: &str| {
            CertificateDer::pem_slice_iter(pem)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_error(what, e))
        };
        let ca = parse_certs(ca_pem, "the CA certificate")?;
        let chain = parse_certs(cert_pem, "the node certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls_error("the key", e))?;
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots
                .add(cert)
                .map_err(|e| tls_error("the CA certificate", e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("client config", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("server config", e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| tls_error("the node certificate and key", e))?;
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
        })
    }
}

/// The dialer's side of a new connection: TLS if `tls` is set, the plain stream otherwise.
pub async fn dialed(tls: Option<&Tls>, stream: TcpStream) -> Result<BoxStream> {
    let Some(tls) = tls else {
        return Ok(Box::new(stream));
    };
    let name = ServerName::try_from(SERVER_NAME).map_err(|e| tls_error("server name", e))?;
    let stream = tls
        .connector
        .connect(name, stream)
        .await
        .map_err(|e| tls_error("TLS handshake with the node failed", e))?;
    Ok(Box::new(stream))
}

/// The listener's side of a new connection: TLS if `tls` is set, the plain stream otherwise.
pub async fn accepted(tls: Option<&Tls>, stream: TcpStream) -> Result<BoxStream> {
    let Some(tls) = tls else {
        return Ok(Box::new(stream));
    };
    let stream = tls
        .acceptor
        .accept(stream)
        .await
        .map_err(|e| tls_error("TLS handshake with the peer failed", e))?;
    Ok(Box::new(stream))
}
