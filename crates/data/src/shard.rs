//! Token shards: a 32-byte header (magic, version, dtype, count, CRC-32 of the data)
//! followed by little-endian u16 or u32 token ids, memory-mapped for training.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::DataError;

const MAGIC: &[u8; 8] = b"EMTOKENS";
const VERSION: u32 = 1;
const HEADER: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardHeader {
    /// Bytes per token id: 2 (u16) or 4 (u32).
    pub dtype_bytes: u32,
    pub count: u64,
    pub checksum: u32,
}

/// Writes `tokens` as a shard (u16 when every id fits), via a temporary file.
pub fn write_shard(path: &Path, tokens: &[u32]) -> Result<ShardHeader, DataError> {
    let wide = tokens.iter().any(|&t| t > u16::MAX as u32);
    let mut data = Vec::with_capacity(tokens.len() * if wide { 4 } else { 2 });
    for &t in tokens {
        if wide {
            data.extend_from_slice(&t.to_le_bytes());
        } else {
            data.extend_from_slice(&(t as u16).to_le_bytes());
        }
    }
    let header = ShardHeader {
        dtype_bytes: if wide { 4 } else { 2 },
        count: tokens.len() as u64,
        checksum: crc32fast::hash(&data),
    };
    let mut head = [0u8; HEADER];
    head[..8].copy_from_slice(MAGIC);
    head[8..12].copy_from_slice(&VERSION.to_le_bytes());
    head[12..16].copy_from_slice(&header.dtype_bytes.to_le_bytes());
    head[16..24].copy_from_slice(&header.count.to_le_bytes());
    head[24..28].copy_from_slice(&header.checksum.to_le_bytes());
    let write = |tmp: &Path| -> std::io::Result<()> {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(&head)?;
        f.write_all(&data)?;
        f.sync_all()
    };
    emergent_files::write_via_temp(path, write).map_err(|e| DataError::io(path, e))?;
    Ok(header)
}

/// A memory-mapped shard whose header and checksum were verified on open.
pub struct Shard {
    pub path: PathBuf,
    pub header: ShardHeader,
    map: memmap2::Mmap,
}

impl Shard {
    pub fn open(path: &Path) -> Result<Shard, DataError> {
        let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        // SAFETY: shards are written once, via rename, and never modified in place.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| DataError::io(path, e))?;
        let bad = |m: String| DataError::file(path, m);
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(bad("not a token shard (bad magic)".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().unwrap());
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(format!(
                "shard version {version}, this emergent reads {VERSION}"
            )));
        }
        let dtype_bytes = u32_at(12);
        if dtype_bytes != 2 && dtype_bytes != 4 {
            return Err(bad(format!(
                "field `dtype`: {dtype_bytes}-byte ids (2 or 4 expected)"
            )));
        }
        let count = u64::from_le_bytes(map[16..24].try_into().unwrap());
        let checksum = u32_at(24);
        let want = count
            .checked_mul(dtype_bytes as u64)
            .and_then(|n| n.checked_add(HEADER as u64));
        if want != Some(map.len() as u64) {
            return Err(bad(format!(
                "field `count`: header says {count} tokens, the file holds {} bytes of data (truncated?)",
                map.len() - HEADER
            )));
        }
        let actual = crc32fast::hash(&map[HEADER..]);
        if actual != checksum {
            return Err(bad(format!(
                "wrong checksum: header {checksum:08x}, data {actual:08x} (corrupted file)"
            )));
        }
        Ok(Shard {
            path: path.into(),
            header: ShardHeader {
                dtype_bytes,
                count,
                checksum,
            },
            map,
        })
    }

    pub fn len(&self) -> usize {
        self.header.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> u32 {
        let d = &self.map[HEADER..];
        if self.header.dtype_bytes == 2 {
            u16::from_le_bytes([d[2 * i], d[2 * i + 1]]) as u32
        } else {
            u32::from_le_bytes(d[4 * i..4 * i + 4].try_into().unwrap())
        }
    }

    /// Copies tokens `start..start + out.len()` into `out`.
    pub fn read_into(&self, start: usize, out: &mut [u32]) {
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.get(start + k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_u16_and_u32() {
        let dir = tempfile::tempdir().unwrap();
        for tokens in [vec![1u32, 2, 65535], vec![1, 70000, 3]] {
            let p = dir.path().join("s.bin");
            let h = write_shard(&p, &tokens).unwrap();
            let s = Shard::open(&p).unwrap();
            assert_eq!(s.header, h);
            assert_eq!((0..3).map(|i| s.get(i)).collect::<Vec<_>>(), tokens);
        }
    }

    #[test]
    fn corruption_and_truncation_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.bin");
        write_shard(&p, &[5, 6, 7, 8]).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[HEADER + 1] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let e = Shard::open(&p).err().unwrap().to_string();
        assert!(e.contains("s.bin") && e.contains("checksum"), "{e}");
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        let e = Shard::open(&p).err().unwrap().to_string();
        assert!(e.contains("truncated"), "{e}");
        std::fs::write(&p, b"hello").unwrap();
        assert!(Shard::open(&p).err().unwrap().to_string().contains("magic"));
    }
}
