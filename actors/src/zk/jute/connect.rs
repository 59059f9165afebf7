//! The handshake: the first frame a client sends (ConnectRequest) and the server's answer
//! (ConnectResponse). A client that had a session sends its id and password to resume it, and
//! the last zxid it saw; an answer with session id 0 and timeout 0 says the session expired.
//! The trailing `readOnly` flag is absent from old clients' frames.

use super::codec::{Reader, Writer};
use super::JuteError;

/// A client's ConnectRequest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// The last zxid the client saw (0 for a new client).
    pub last_zxid_seen: i64,
    /// The session timeout it asks for, in ms.
    pub timeout_ms: i32,
    /// The session to resume, or 0 for a new one.
    pub session_id: i64,
    /// The session's password (16 zero bytes for a new one).
    pub password: Vec<u8>,
    /// Whether the client would accept a read-only server.
    pub read_only: bool,
}

impl ConnectRequest {
    /// Decodes a handshake frame.
    pub fn decode(frame: &[u8]) -> Result<ConnectRequest, JuteError> {
        let mut r = Reader::new(frame);
        Ok(ConnectRequest {
            protocol_version: r.int()?,
            last_zxid_seen: r.long()?,
            timeout_ms: r.int()?,
            session_id: r.long()?,
            password: r.buffer()?,
            read_only: r.remaining() > 0 && r.boolean()?,
        })
    }

    /// Encodes it (the client's side).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(self.protocol_version)
            .long(self.last_zxid_seen)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.password)
            .boolean(self.read_only);
        w.into_bytes()
    }
}

/// The server's ConnectResponse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// The negotiated timeout (0: the session expired).
    pub timeout_ms: i32,
    /// The session's id (0: the session expired).
    pub session_id: i64,
    /// Its password.
    pub password: Vec<u8>,
    /// Whether this server is read-only: troupe's never are.
    pub read_only: bool,
}

impl ConnectResponse {
    /// The answer to a client whose session is gone.
    pub fn expired() -> ConnectResponse {
        ConnectResponse {
            password: vec![0; 16],
            ..ConnectResponse::default()
        }
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(self.protocol_version)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.password)
            .boolean(self.read_only);
        w.into_bytes()
    }

    /// Decodes it (the client's side).
    pub fn decode(frame: &[u8]) -> Result<ConnectResponse, JuteError> {
        let mut r = Reader::new(frame);
        Ok(ConnectResponse {
            protocol_version: r.int()?,
            timeout_ms: r.int()?,
            session_id: r.long()?,
            password: r.buffer()?,
            read_only: r.remaining() > 0 && r.boolean()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_clients_handshake_is_45_bytes_and_old_clients_omit_read_only() {
        let request = ConnectRequest {
            timeout_ms: 10_000,
            password: vec![0; 16],
            ..ConnectRequest::default()
        };
        let bytes = request.encode();
        assert_eq!(bytes.len(), 4 + 8 + 4 + 8 + 4 + 16 + 1);
        assert_eq!(ConnectRequest::decode(&bytes), Ok(request.clone()));
        // Without the trailing flag, as a 3.3 client sends it.
        assert_eq!(
            ConnectRequest::decode(&bytes[..bytes.len() - 1]),
            Ok(request)
        );
        assert_eq!(
            ConnectRequest::decode(&bytes[..10]),
            Err(JuteError::Truncated)
        );
    }

    #[test]
    fn responses_round_trip() {
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 6_000,
            session_id: 0x0300_0000_0000_0042,
            password: vec![7; 16],
            read_only: false,
        };
        assert_eq!(ConnectResponse::decode(&response.encode()), Ok(response));
        let expired = ConnectResponse::decode(&ConnectResponse::expired().encode());
        assert_eq!(expired.map(|r| (r.session_id, r.timeout_ms)), Ok((0, 0)));
    }
}
