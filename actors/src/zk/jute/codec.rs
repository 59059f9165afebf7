//! Jute's primitive encodings, as ZooKeeper's records use them: big-endian `int` (4 bytes)
//! and `long` (8), a one-byte `boolean`, and `buffer`, `ustring` and `vector` as a 4-byte
//! length (-1 for null) followed by the bytes or the elements.

use super::JuteError;
use troupe_messages::zk::Stat;

/// Reads jute values from a frame, front to back.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// The longest buffer, string or vector a reader accepts (ZooKeeper's default
/// `jute.maxbuffer`, about 1 MB): a length beyond it is malformed, not an allocation.
pub const MAX_LEN: usize = 0xfffff;

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        if self.remaining() < n {
            return Err(JuteError::Truncated);
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    /// An `int`.
    pub fn int(&mut self) -> Result<i32, JuteError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `long`.
    pub fn long(&mut self) -> Result<i64, JuteError> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A `boolean`.
    pub fn boolean(&mut self) -> Result<bool, JuteError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A length: -1 (null) as None; a negative or over-long one is malformed.
    fn len(&mut self) -> Result<Option<usize>, JuteError> {
        match self.int()? {
            -1 => Ok(None),
            n if n < 0 => Err(JuteError::Malformed("a negative length")),
            n if n as usize > MAX_LEN => Err(JuteError::TooLong(n as usize)),
            n => Ok(Some(n as usize)),
        }
    }

    /// A `buffer` (null as empty).
    pub fn buffer(&mut self) -> Result<Vec<u8>, JuteError> {
        match self.len()? {
            None => Ok(Vec::new()),
            Some(n) => Ok(self.take(n)?.to_vec()),
        }
    }

    /// A `ustring` (null as empty).
    pub fn ustring(&mut self) -> Result<String, JuteError> {
        let bytes = self.buffer()?;
        String::from_utf8(bytes).map_err(|_| JuteError::Malformed("a string that is not UTF-8"))
    }

    /// A `vector<ustring>` (null as empty).
    pub fn strings(&mut self) -> Result<Vec<String>, JuteError> {
        let n = self.len()?.unwrap_or(0);
        // Each element takes at least its 4-byte length.
        if n > self.remaining() / 4 {
            return Err(JuteError::Truncated);
        }
        (0..n).map(|_| self.ustring()).collect()
    }

    /// A `Stat`.
    pub fn stat(&mut self) -> Result<Stat, JuteError> {
        Ok(Stat {
            czxid: self.long()?,
            mzxid: self.long()?,
            ctime: self.long()?,
            mtime: self.long()?,
            version: self.int()?,
            cversion: self.int()?,
            aversion: self.int()?,
            ephemeral_owner: self.long()?,
            data_length: self.int()?,
            num_children: self.int()?,
            pzxid: self.long()?,
        })
    }
}

/// Writes jute values into a frame.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty frame.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The frame's bytes (without the length prefix, which the framing adds).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// An `int`.
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `long`.
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `boolean`.
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.bytes.push(u8::from(v));
        self
    }

    /// A `buffer`.
    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.int(i32::try_from(v.len()).unwrap_or(i32::MAX));
        self.bytes.extend_from_slice(v);
        self
    }

    /// A `ustring`.
    pub fn ustring(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }

    /// A `vector<ustring>`.
    pub fn strings(&mut self, v: &[String]) -> &mut Self {
        self.int(i32::try_from(v.len()).unwrap_or(i32::MAX));
        for s in v {
            self.ustring(s);
        }
        self
    }

    /// A `Stat`.
    pub fn stat(&mut self, s: &Stat) -> &mut Self {
        self.long(s.czxid)
            .long(s.mzxid)
            .long(s.ctime)
            .long(s.mtime)
            .int(s.version)
            .int(s.cversion)
            .int(s.aversion)
            .long(s.ephemeral_owner)
            .int(s.data_length)
            .int(s.num_children)
            .long(s.pzxid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_big_endian_with_length_prefixes() {
        let mut w = Writer::new();
        w.int(1).long(-2).boolean(true).ustring("ab").buffer(&[]);
        let bytes = w.into_bytes();
        assert_eq!(
            bytes,
            [
                0, 0, 0, 1, 255, 255, 255, 255, 255, 255, 255, 254, 1, 0, 0, 0, 2, b'a', b'b', 0,
                0, 0, 0
            ]
        );
        let mut r = Reader::new(&bytes);
        assert_eq!(r.int(), Ok(1));
        assert_eq!(r.long(), Ok(-2));
        assert_eq!(r.boolean(), Ok(true));
        assert_eq!(r.ustring().as_deref(), Ok("ab"));
        assert_eq!(r.buffer(), Ok(Vec::new()));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.int(), Err(JuteError::Truncated));
    }

    #[test]
    fn null_and_hostile_lengths() {
        let null = (-1i32).to_be_bytes();
        assert_eq!(Reader::new(&null).buffer(), Ok(Vec::new()));
        assert_eq!(Reader::new(&null).strings(), Ok(Vec::new()));
        let negative = (-7i32).to_be_bytes();
        assert!(matches!(
            Reader::new(&negative).buffer(),
            Err(JuteError::Malformed(_))
        ));
        let huge = i32::MAX.to_be_bytes();
        assert!(matches!(
            Reader::new(&huge).buffer(),
            Err(JuteError::TooLong(_))
        ));
        // A vector claiming more elements than its bytes could hold.
        let many = 1000i32.to_be_bytes();
        assert_eq!(Reader::new(&many).strings(), Err(JuteError::Truncated));
    }

    #[test]
    fn a_stat_takes_68_bytes_in_zookeepers_field_order() {
        let stat = Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 9,
            num_children: 10,
            pzxid: 11,
        };
        let mut w = Writer::new();
        w.stat(&stat);
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 68);
        assert_eq!(
            &bytes[32..36],
            &5i32.to_be_bytes(),
            "version after four longs"
        );
        assert_eq!(Reader::new(&bytes).stat(), Ok(stat));
    }
}
