//! Whole-buffer gzip (and zlib) inflation into a reused buffer.
//!
//! libdeflate decodes a whole member in one call and is about twice as fast as a streaming
//! decoder here (see ../shared/PERFORMANCE.md). Two of its properties need care:
//! - it needs an output buffer at least the real size. The gzip trailer's ISIZE gives a hint,
//!   but it is attacker-controlled (and modulo 2^32), so it is capped by the record limit and
//!   the buffer grows on `LIBDEFLATE_INSUFFICIENT_SPACE`;
//! - one call decodes one member. The `_ex` entry point reports how much input that member
//!   used, so members are decoded one after another until the input is consumed (the safe
//!   `libdeflater` wrapper hides that count, and a trailer-based guess cannot tell two identical
//!   members from one).

use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS, libdeflate_zlib_decompress_ex,
};

use super::DecodeError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Header (10) + trailer (8) bytes of the smallest gzip member.
const MIN_MEMBER: usize = 18;

/// Whether `bytes` starts with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Whether `bytes` starts with a zlib header (RFC 1950: deflate, window ≤ 32 KiB, no preset
/// dictionary, header checksum). Two bytes can match by chance, so a failed inflation of
/// something that only looked like zlib is not an error: the caller reads it as text.
pub fn is_zlib(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, _, ..] => {
            cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && flg & 0x20 == 0
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// Owns a libdeflate decompressor.
struct RawDecompressor(NonNull<libdeflate_decompressor>);

// SAFETY: a libdeflate decompressor is plain heap state with no thread affinity; `&mut self`
// on every use keeps it single-threaded at any moment.
unsafe impl Send for RawDecompressor {}

enum MemberError {
    BadData,
    InsufficientSpace,
}

impl RawDecompressor {
    fn new() -> Self {
        // SAFETY: allocation has no preconditions; null (out of memory) is handled below.
        let ptr = unsafe { libdeflate_alloc_decompressor() };
        match NonNull::new(ptr) {
            Some(p) => Self(p),
            None => std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 32 * 1024]>()),
        }
    }

    /// Decodes the first gzip member (or the zlib stream, with `zlib`) of `input` into `out`:
    /// `(input used, output written)`.
    fn member(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        zlib: bool,
    ) -> Result<(usize, usize), MemberError> {
        let mut used = 0usize;
        let mut written = 0usize;
        let decompress = if zlib {
            libdeflate_zlib_decompress_ex
        } else {
            libdeflate_gzip_decompress_ex
        };
        // SAFETY: the pointers and lengths come from live slices; libdeflate reads at most
        // `input.len()` bytes, writes at most `out.len()` bytes, and writes both counts.
        let result = unsafe {
            decompress(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut used,
                &mut written,
            )
        };
        match result {
            r if r == libdeflate_result_LIBDEFLATE_SUCCESS => Ok((used, written)),
            r if r == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                Err(MemberError::InsufficientSpace)
            }
            _ => Err(MemberError::BadData),
        }
    }
}

impl Drop for RawDecompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed exactly once.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// An inflater with a reusable output buffer and a size limit.
pub struct Inflater {
    decompressor: RawDecompressor,
    out: Vec<u8>,
    limit: usize,
    /// Length of the last successful output, if the last call succeeded.
    last: Option<usize>,
}

impl Inflater {
    pub fn new(limit: usize) -> Self {
        Self {
            decompressor: RawDecompressor::new(),
            out: Vec::new(),
            limit,
            last: None,
        }
    }

    /// The output of the last successful [`inflate`](Self::inflate).
    pub fn last(&self) -> Option<&[u8]> {
        self.last.map(|n| &self.out[..n])
    }

    /// Forgets the last output (a new record is being decoded).
    pub fn forget(&mut self) {
        self.last = None;
    }

    /// Inflates a complete gzip stream (one or more members).
    pub fn inflate(&mut self, input: &[u8]) -> Result<&[u8], DecodeError> {
        self.last = None;
        if input.len() < MIN_MEMBER {
            return Err(DecodeError::Gzip("truncated stream".to_owned()));
        }
        let trailer = &input[input.len() - 4..];
        let hint = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
        // Trust the trailer only within a plausible ratio: a lying ISIZE must not make every
        // garbage record allocate (and zero) the whole limit. Doubling covers real outliers.
        let mut capacity = hint
            .min(input.len().saturating_mul(64))
            .max(input.len().saturating_mul(4))
            .clamp(1024, self.limit.max(1024));

        let mut consumed = 0;
        let mut written = 0;
        while consumed < input.len() {
            let rest = &input[consumed..];
            if !is_gzip(rest) || rest.len() < MIN_MEMBER {
                return Err(DecodeError::Gzip(format!(
                    "{} bytes of trailing data after the last gzip member",
                    rest.len()
                )));
            }
            if self.out.len() < capacity {
                self.out.resize(capacity, 0);
            }
            match self
                .decompressor
                .member(rest, &mut self.out[written..capacity], false)
            {
                Ok((used, n)) => {
                    consumed += used;
                    written += n;
                    if used == 0 {
                        return Err(DecodeError::Gzip("empty gzip member".to_owned()));
                    }
                }
                Err(MemberError::InsufficientSpace) => capacity = self.grown(capacity)?,
                Err(MemberError::BadData) => {
                    return Err(DecodeError::Gzip(
                        "corrupt deflate data or checksum".to_owned(),
                    ))
                }
            }
        }
        self.last = Some(written);
        Ok(&self.out[..written])
    }

    /// The next output capacity after `capacity` was too small: doubled, up to the limit.
    fn grown(&self, capacity: usize) -> Result<usize, DecodeError> {
        if capacity >= self.limit {
            return Err(DecodeError::TooLarge { limit: self.limit });
        }
        Ok(capacity.saturating_mul(2).min(self.limit))
    }

    /// Inflates a complete zlib stream (Fluentd's `compression zlib`). zlib carries no size,
    /// so the buffer starts at 4× the input and doubles up to the limit.
    pub fn inflate_zlib(&mut self, input: &[u8]) -> Result<&[u8], DecodeError> {
        self.last = None;
        let mut capacity = input
            .len()
            .saturating_mul(4)
            .clamp(1024, self.limit.max(1024));
        loop {
            if self.out.len() < capacity {
                self.out.resize(capacity, 0);
            }
            match self
                .decompressor
                .member(input, &mut self.out[..capacity], true)
            {
                Ok((used, written)) if used == input.len() => {
                    self.last = Some(written);
                    return Ok(&self.out[..written]);
                }
                Ok((used, _)) => {
                    return Err(DecodeError::Gzip(format!(
                        "{} bytes of trailing data after the zlib stream",
                        input.len() - used
                    )))
                }
                Err(MemberError::InsufficientSpace) => capacity = self.grown(capacity)?,
                Err(MemberError::BadData) => {
                    return Err(DecodeError::Gzip(
                        "corrupt zlib data or checksum".to_owned(),
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_single_member_and_reuses_buffer() {
        let mut inf = Inflater::new(1 << 20);
        let data = b"hello world ".repeat(1000);
        assert!(inf.inflate(&gzip(&data)).unwrap() == &data[..]);
        assert_eq!(inf.inflate(&gzip(b"short")).unwrap(), b"short");
        assert_eq!(inf.inflate(&gzip(b"")).unwrap(), b"");
    }

    #[test]
    fn inflates_every_member_including_identical_ones() {
        let mut input = gzip(b"first member, ");
        input.extend(gzip(b"second member"));
        let mut inf = Inflater::new(1 << 20);
        assert_eq!(inf.inflate(&input).unwrap(), b"first member, second member");
        let mut twice = gzip(b"same");
        twice.extend(gzip(b"same"));
        assert_eq!(inf.inflate(&twice).unwrap(), b"samesame");
    }

    #[test]
    fn a_lying_size_trailer_fails_cleanly() {
        let data = b"x".repeat(100_000);
        let mut input = gzip(&data);
        let n = input.len();
        input[n - 4..].copy_from_slice(&1u32.to_le_bytes());
        let mut inf = Inflater::new(1 << 20);
        assert!(inf.inflate(&input).is_err());
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let data = vec![0u8; 4 << 20];
        let mut inf = Inflater::new(1 << 20);
        assert!(matches!(
            inf.inflate(&gzip(&data)),
            Err(DecodeError::TooLarge { limit: 1_048_576 })
        ));
        let mut input = gzip(&data[..600_000]);
        input.extend(gzip(&data[..600_000]));
        assert!(matches!(
            inf.inflate(&input),
            Err(DecodeError::TooLarge { limit: 1_048_576 })
        ));
    }

    #[test]
    fn zlib_streams_inflate_and_are_recognised() {
        use flate2::write::ZlibEncoder;
        let data = b"{\"log\":\"fluentd line\"}\n".repeat(500);
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(&data).unwrap();
        let packed = e.finish().unwrap();
        assert!(is_zlib(&packed));
        assert!(!is_zlib(b"plain text"));
        assert!(!is_zlib(&gzip(b"x")));
        let mut inf = Inflater::new(1 << 20);
        assert_eq!(inf.inflate_zlib(&packed).unwrap(), &data[..]);
        assert!(inf.inflate_zlib(&packed[..packed.len() - 3]).is_err());
        let big = vec![b'a'; 3 << 20];
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(&big).unwrap();
        assert!(matches!(
            inf.inflate_zlib(&e.finish().unwrap()),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error() {
        let mut inf = Inflater::new(1 << 20);
        let header_then_junk = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ];
        assert!(inf.inflate(&header_then_junk).is_err());
        assert!(inf.inflate(&[0x1f, 0x8b]).is_err());
        let mut trailing = gzip(b"ok");
        trailing.extend_from_slice(b"junk after the member");
        assert!(
            matches!(inf.inflate(&trailing), Err(DecodeError::Gzip(m)) if m.contains("trailing"))
        );
    }
}
