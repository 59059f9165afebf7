//! Frames on a TCP stream: a 4-byte big-endian length, then that many bytes (one encoded
//! envelope). tokio-util's length-delimited codec does the work; a length above the maximum is
//! refused before anything is allocated, so a peer claiming 4 GiB costs nothing.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The largest frame troupe accepts by default: 16 MiB.
pub const MAX_FRAME: usize = 16 << 20;

/// The codec for troupe's frames, refusing frames longer than `max`.
pub fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max)
        .new_codec()
}

/// Wraps a stream in troupe's frame codec.
pub fn framed<S: AsyncRead + AsyncWrite>(stream: S, max: usize) -> Framed<S, LengthDelimitedCodec> {
    Framed::new(stream, codec(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes_crate::BytesMut;
    use tokio_util::codec::Decoder;

    // tokio-util's codecs work on `bytes::BytesMut`.
    use tokio_util::bytes as bytes_crate;

    #[test]
    fn oversized_lengths_are_refused_without_allocating() {
        let mut codec = codec(1024);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(err.to_string().contains("frame size too big"), "{err}");
    }

    proptest::proptest! {
        /// Fuzz over the decoder: any bytes, fed in any chunks, give frames no longer than the
        /// maximum or an error; never a panic, never an allocation past the maximum.
        #[test]
        fn any_byte_soup_decodes_to_frames_or_an_error(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 1..16)
        ) {
            let mut codec = codec(256);
            let mut buf = BytesMut::new();
            'feed: for chunk in chunks {
                buf.extend_from_slice(&chunk);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(frame)) => proptest::prop_assert!(frame.len() <= 256),
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
    }
}
