//! PyTorch checkpoints (`pytorch_model.bin`, and the shards an index lists) read without
//! executing anything. `torch.save` writes a ZIP archive holding `data.pkl`, a pickle of
//! the state dict whose tensors point at storages kept as `data/<key>` records. The
//! pickle is run by a machine that knows only the opcodes a state dict uses and builds
//! nothing but dicts, lists, tuples, scalars, storages and tensors: every global outside
//! a short list of tensor rebuilders, storage types and `OrderedDict` is refused by name
//! before anything is built, so a pickle that would run code on `torch.load` is an error
//! here. Every size is checked against the file before anything is allocated.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::hf::{bf16_to_f32, f16_to_f32, HfTensor};
use crate::EngineError;

/// Reads every floating-point tensor of a `torch.save`d state dict as f32 (from F32, F16,
/// BF16 or F64 storages); integer and boolean buffers (masks, position ids) are skipped,
/// as no architecture's weights are stored that way.
pub fn read_torch(path: &Path) -> Result<StateDict, EngineError> {
    let file = emergent_files::open_regular(path).map_err(|e| EngineError::io(path, e))?;
    // SAFETY: the file is opened read-only and emergent never writes to it while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
    let bad = |message: String| EngineError::Torch {
        path: path.into(),
        message,
    };
    parse(&map).map_err(bad)
}

/// The whole reader on the bytes of one file; errors are messages the caller prefixes
/// with the path.
pub fn parse(bytes: &[u8]) -> Result<StateDict, String> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(if bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a]) {
            "PyTorch's legacy format (before 1.6, not a ZIP archive): load it and save it \
             again with a newer torch, or as safetensors"
                .into()
        } else {
            "not a PyTorch checkpoint (a ZIP archive written by torch.save)".into()
        });
    }
    let zip = Zip::read(bytes)?;
    let pkl_name = zip
        .entries
        .keys()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .min()
        .ok_or("no `data.pkl` in the archive")?
        .clone();
    let prefix = &pkl_name[..pkl_name.len() - "data.pkl".len()];
    if let Some(order) = zip.entries.get(&format!("{prefix}byteorder")) {
        if zip.data(order)? != b"little" {
            return Err("the tensors are stored big-endian; only little-endian is read".into());
        }
    }
    let machine = Machine {
        stack: Vec::new(),
        memo: HashMap::new(),
        tensors_left: MIN_TENSORS.max(bytes.len() / BYTES_PER_TENSOR),
    };
    let value = machine.run(zip.data(&zip.entries[&pkl_name])?)?;
    let Val::Dict(items) = value else {
        return Err(format!(
            "the pickle holds {}, not a state dict (a dict of tensor names to tensors)",
            value.kind()
        ));
    };
    let mut out = StateDict::default();
    // Gathered views can repeat a storage (tied weights share one); past four times the
    // file's bytes (f16 doubled, then shared once more) something else is going on.
    let mut budget = 4 * bytes.len() as u64 + (1 << 20);
    for pair in items.borrow().0.chunks_exact(2) {
        let (key, val) = (&pair[0], &pair[1]);
        let Val::Str(name) = key else {
            return Err(format!("a state dict key is {}, not a string", key.kind()));
        };
        let Val::Tensor(t) = val else {
            return Err(format!("`{name}` is {}, not a tensor", val.kind()));
        };
        let dtype = match t.storage.dtype {
            Dtype::Float(f) => f,
            Dtype::Int(_, what) => {
                out.integer.insert(name.to_string(), what);
                continue;
            }
        };
        let numel = t
            .size
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        budget = numel
            .and_then(|n| budget.checked_sub(n.saturating_mul(4)))
            .ok_or_else(|| {
                format!("`{name}`: the tensors' views hold more than four times the file's bytes")
            })?;
        let record = format!("{prefix}data/{}", t.storage.key);
        let entry = zip
            .entries
            .get(&record)
            .ok_or_else(|| format!("`{name}`: its storage `{record}` is not in the archive"))?;
        let data = tensor_data(zip.data(entry)?, dtype, &t.storage, t)
            .map_err(|e| format!("`{name}`: {e}"))?;
        out.tensors.insert(
            name.to_string(),
            HfTensor {
                shape: t.size.clone(),
                data,
            },
        );
    }
    Ok(out)
}

/// A state dict's floating-point tensors as f32, and the names of its integer and
/// boolean ones (masks, position ids: never weights) with their type.
#[derive(Debug, Default)]
pub struct StateDict {
    pub tensors: HashMap<String, HfTensor>,
    pub integer: HashMap<String, &'static str>,
}

/// A tensor's elements in row-major order, gathered through its offset and strides from
/// a storage record whose length is checked against the storage's element count.
fn tensor_data(
    raw: &[u8],
    dtype: Float,
    storage: &Storage,
    t: &Tensor,
) -> Result<Vec<f32>, String> {
    let width = dtype.width();
    if raw.len() as u64 != storage.numel.saturating_mul(width as u64) {
        return Err(format!(
            "its storage record has {} bytes, not {} elements of {width} bytes",
            raw.len(),
            storage.numel
        ));
    }
    let numel = t
        .size
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("its size overflows")?;
    if t.stride.len() != t.size.len() {
        return Err(format!(
            "size {:?} and stride {:?} differ in rank",
            t.size, t.stride
        ));
    }
    // Only a broadcast (a zero stride) views more elements than its storage holds, and a
    // state dict never saves one: refusing it bounds the allocation by the file's size.
    if numel as u64 > storage.numel {
        return Err(format!(
            "its size {:?} has more elements than its storage's {}",
            t.size, storage.numel
        ));
    }
    if numel > 0 {
        let last = t
            .size
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |a, (&d, &s)| {
                a.checked_add((d - 1).checked_mul(s)?)
            })
            .ok_or("its view overflows")?;
        if last as u64 >= storage.numel {
            return Err(format!(
                "its view (offset {}, size {:?}, stride {:?}) reaches past the storage's {} elements",
                t.offset, t.size, t.stride, storage.numel
            ));
        }
    }
    let at = |i: usize| {
        let b = &raw[i * width..(i + 1) * width];
        match dtype {
            Float::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Float::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Float::BF16 => bf16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Float::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
        }
    };
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.size.len()];
    for _ in 0..numel {
        let pos = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(at(pos));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

/// The stored (uncompressed) records of a ZIP archive, ZIP64 included, as torch writes it.
struct Zip<'a> {
    bytes: &'a [u8],
    entries: HashMap<String, Entry>,
}

struct Entry {
    header: u64,
    size: u64,
    method: u16,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| "the ZIP structure is cut short".into())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "the ZIP structure is cut short".into())
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .ok_or_else(|| "the ZIP structure is cut short".into())
}

fn usize_of(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("offset {v} does not fit in memory"))
}

/// An offset into the file, refused when it points past the end: every offset read
/// from the archive goes through here, so the small sums added to it cannot overflow.
fn offset_in(bytes: &[u8], v: u64) -> Result<usize, String> {
    usize_of(v)
        .ok()
        .filter(|&o| o <= bytes.len())
        .ok_or_else(|| format!("an offset ({v}) points past the end of the file"))
}

impl<'a> Zip<'a> {
    fn read(bytes: &'a [u8]) -> Result<Zip<'a>, String> {
        const EOCD: u32 = 0x0605_4b50;
        let lowest = bytes.len().saturating_sub(22 + 65_535);
        let eocd = (lowest..=bytes.len().saturating_sub(22))
            .rev()
            .find(|&i| u32_at(bytes, i) == Ok(EOCD))
            .ok_or("no ZIP end-of-directory record: the file is cut short or not an archive")?;
        let mut count = u16_at(bytes, eocd + 10)? as u64;
        let mut dir = u32_at(bytes, eocd + 16)? as u64;
        if eocd >= 20 && u32_at(bytes, eocd - 20) == Ok(0x0706_4b50) {
            let rec = offset_in(bytes, u64_at(bytes, eocd - 20 + 8)?)?;
            if u32_at(bytes, rec)? != 0x0606_4b50 {
                return Err(
                    "the ZIP64 end-of-directory record is not where its locator says".into(),
                );
            }
            count = u64_at(bytes, rec + 32)?;
            dir = u64_at(bytes, rec + 48)?;
        }
        // Each central record is at least 46 bytes: a count beyond that is a lie.
        if count > bytes.len() as u64 / 46 {
            return Err(format!("the ZIP directory claims {count} records"));
        }
        let mut entries = HashMap::new();
        let mut at = offset_in(bytes, dir)?;
        for _ in 0..count {
            if u32_at(bytes, at)? != 0x0201_4b50 {
                return Err("a ZIP directory record is damaged".into());
            }
            let method = u16_at(bytes, at + 10)?;
            let mut size = u32_at(bytes, at + 24)? as u64;
            let name_len = u16_at(bytes, at + 28)? as usize;
            let extra_len = u16_at(bytes, at + 30)? as usize;
            let comment_len = u16_at(bytes, at + 32)? as usize;
            let mut header = u32_at(bytes, at + 42)? as u64;
            let name = bytes
                .get(at + 46..at + 46 + name_len)
                .ok_or("the ZIP structure is cut short")?;
            let name = String::from_utf8_lossy(name).into_owned();
            let extra = bytes
                .get(at + 46 + name_len..at + 46 + name_len + extra_len)
                .ok_or("the ZIP structure is cut short")?;
            zip64_fields(extra, &mut size, &mut header, u32_at(bytes, at + 20)?)?;
            entries.insert(
                name,
                Entry {
                    header,
                    size,
                    method,
                },
            );
            at += 46 + name_len + extra_len + comment_len;
        }
        Ok(Zip { bytes, entries })
    }

    /// One record's bytes, found through its local header.
    fn data(&self, e: &Entry) -> Result<&'a [u8], String> {
        if e.method != 0 {
            return Err(format!(
                "a record is compressed (method {}); torch.save stores records uncompressed",
                e.method
            ));
        }
        let h = offset_in(self.bytes, e.header)?;
        if u32_at(self.bytes, h)? != 0x0403_4b50 {
            return Err("a ZIP record's local header is damaged".into());
        }
        let start =
            h + 30 + u16_at(self.bytes, h + 26)? as usize + u16_at(self.bytes, h + 28)? as usize;
        let end = start
            .checked_add(usize_of(e.size)?)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("a ZIP record reaches past the end of the file")?;
        Ok(&self.bytes[start..end])
    }
}

/// The 64-bit sizes and offset of ZIP64's extra field, present for each 32-bit field that
/// holds 0xFFFFFFFF, in order (uncompressed, compressed, offset).
fn zip64_fields(
    extra: &[u8],
    size: &mut u64,
    header: &mut u64,
    compressed: u32,
) -> Result<(), String> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at)?;
        let len = u16_at(extra, at + 2)? as usize;
        if id == 1 {
            let mut f = at + 4;
            for field in [Some(&mut *size), None, Some(&mut *header)] {
                let wide = match &field {
                    Some(v) => **v == 0xFFFF_FFFF,
                    None => compressed == 0xFFFF_FFFF,
                };
                if wide {
                    let v = u64_at(extra, f)?;
                    if let Some(slot) = field {
                        *slot = v;
                    }
                    f += 8;
                }
            }
        }
        at += 4 + len;
    }
    Ok(())
}

/// Storage element types: the floating ones become weights, the integer ones (masks,
/// position ids) are skipped, with their width in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dtype {
    Float(Float),
    /// Width in bytes, and torch's name of the type.
    Int(u64, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Float {
    F32,
    F16,
    BF16,
    F64,
}

impl Dtype {
    /// The storage classes torch pickles, legacy and typed; anything else is refused.
    fn of_storage(name: &str) -> Option<Dtype> {
        Some(match name {
            "FloatStorage" => Dtype::Float(Float::F32),
            "HalfStorage" => Dtype::Float(Float::F16),
            "BFloat16Storage" => Dtype::Float(Float::BF16),
            "DoubleStorage" => Dtype::Float(Float::F64),
            "LongStorage" => Dtype::Int(8, "int64"),
            "IntStorage" => Dtype::Int(4, "int32"),
            "ShortStorage" => Dtype::Int(2, "int16"),
            "ByteStorage" => Dtype::Int(1, "uint8"),
            "CharStorage" => Dtype::Int(1, "int8"),
            "BoolStorage" => Dtype::Int(1, "bool"),
            _ => return None,
        })
    }

    fn width(self) -> u64 {
        match self {
            Dtype::Float(f) => f.width() as u64,
            Dtype::Int(w, _) => w,
        }
    }
}

impl Float {
    fn width(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::F16 | Float::BF16 => 2,
            Float::F64 => 8,
        }
    }
}

#[derive(Debug)]
struct Storage {
    dtype: Dtype,
    key: String,
    numel: u64,
}

#[derive(Debug)]
struct Tensor {
    storage: Rc<Storage>,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// The globals a state dict may name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    StorageType(Dtype),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Result<Global, String> {
        let g = match (module, name) {
            ("collections", "OrderedDict") => Some(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensor),
            ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
            ("torch", s) => Dtype::of_storage(s).map(Global::StorageType),
            _ => None,
        };
        g.ok_or_else(|| {
            format!(
                "the pickle names `{module}.{name}`, which a state dict never needs: refused, \
                 nothing was run (only tensors, their storages and OrderedDict are read)"
            )
        })
    }
}

/// A container's items (a dict's as key, value, key, value …), dropped without
/// recursion: a pickle of a few hundred kilobytes can nest containers a hundred
/// thousand deep, and the default drop recurses once a level, past any thread's stack.
#[derive(Debug, Default)]
struct Items(Vec<Val>);

impl Drop for Items {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.0);
        while let Some(v) = pending.pop() {
            // A container no one else holds gives up its items here, so it drops empty.
            let inner = match v {
                Val::Tuple(rc) => Rc::try_unwrap(rc).ok(),
                Val::List(rc) | Val::Dict(rc) => Rc::try_unwrap(rc).ok().map(RefCell::into_inner),
                _ => None,
            };
            if let Some(mut items) = inner {
                pending.append(&mut items.0);
            }
        }
    }
}

/// A value on the pickle machine's stack.
#[derive(Debug, Clone)]
enum Val {
    None,
    /// A boolean or a float: read, never needed.
    Scalar,
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<Items>),
    List(Rc<RefCell<Items>>),
    /// Keys and values alternate.
    Dict(Rc<RefCell<Items>>),
    Global(Global),
    Storage(Rc<Storage>),
    Tensor(Rc<Tensor>),
    Mark,
}

impl Val {
    fn kind(&self) -> &'static str {
        match self {
            Val::None => "None",
            Val::Scalar => "a boolean or float",
            Val::Int(_) => "an integer",
            Val::Str(_) => "a string",
            Val::Tuple(_) => "a tuple",
            Val::List(_) => "a list",
            Val::Dict(_) => "a dict",
            Val::Global(_) => "a class or function",
            Val::Storage(_) => "a storage",
            Val::Tensor(_) => "a tensor",
            Val::Mark => "a mark",
        }
    }

    fn index(&self, what: &str) -> Result<usize, String> {
        match self {
            Val::Int(i) if *i < 0 => Err(format!("{what} is {i}: negative")),
            Val::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} {i} is too large")),
            other => Err(format!("{what} is {}, not a whole number", other.kind())),
        }
    }

    fn indices(&self, what: &str) -> Result<Vec<usize>, String> {
        match self {
            Val::Tuple(t) => t.0.iter().map(|v| v.index(what)).collect(),
            other => Err(format!("{what} is {}, not a tuple", other.kind())),
        }
    }
}

/// The pickle machine: a stack, the memo, and how many more tensors it may build.
/// Every opcode reads at least one byte, so no input runs long; the tensor budget keeps
/// its memory a small multiple of the file's size.
struct Machine {
    stack: Vec<Val>,
    memo: HashMap<u32, Val>,
    tensors_left: usize,
}

/// At most one tensor per this many bytes of the file (a state dict's smallest tensors,
/// a tiny model's biases, take more), with a floor for small files: 10⁶ empty tensors
/// in 30 MB once took 737 MB before they were refused.
const BYTES_PER_TENSOR: usize = 256;
const MIN_TENSORS: usize = 4096;

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .at
            .checked_add(n)
            .and_then(|end| self.b.get(self.at..end))
            .ok_or("the pickle is cut short")?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.b[self.at..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("the pickle is cut short")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "a global's name is not UTF-8")?;
        self.at += n + 1;
        Ok(s)
    }
    fn text(&mut self, n: usize) -> Result<Rc<str>, String> {
        let s = self.take(n)?;
        std::str::from_utf8(s)
            .map(Rc::from)
            .map_err(|_| "a string in the pickle is not UTF-8".into())
    }
}

impl Machine {
    fn pop(&mut self) -> Result<Val, String> {
        match self.stack.pop() {
            Some(Val::Mark) | None => {
                Err("the pickle's stack is empty where a value is needed".into())
            }
            Some(v) => Ok(v),
        }
    }

    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Val>, String> {
        let m = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Val::Mark))
            .ok_or("the pickle pops to a mark it never set")?;
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top(&mut self) -> Result<&mut Val, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the pickle's stack is empty where a value is needed".into())
    }

    fn set_items(&mut self, items: Vec<Val>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("a dict is given an odd number of keys and values".into());
        }
        let Val::Dict(d) = self.top()? else {
            return Err("items are set on something that is not a dict".into());
        };
        d.borrow_mut().0.extend(items);
        Ok(())
    }

    fn append(&mut self, items: Vec<Val>) -> Result<(), String> {
        let Val::List(l) = self.top()? else {
            return Err("items are appended to something that is not a list".into());
        };
        l.borrow_mut().0.extend(items);
        Ok(())
    }

    fn tuple(items: Vec<Val>) -> Val {
        Val::Tuple(Rc::new(Items(items)))
    }

    fn run(mut self, pickle: &[u8]) -> Result<Val, String> {
        let mut r = Reader { b: pickle, at: 0 };
        // Every opcode consumes at least one byte, so the loop ends with the input.
        loop {
            let op = r.u8()?;
            match op {
                0x80 => {
                    let v = r.u8()?;
                    if v > 5 {
                        return Err(format!("pickle protocol {v} is unknown"));
                    }
                }
                0x95 => {
                    r.take(8)?; // FRAME: its length is only a hint
                }
                b'.' => return self.pop(),
                b'}' => self.stack.push(Val::Dict(Rc::default())),
                b']' => self.stack.push(Val::List(Rc::default())),
                b')' => self.stack.push(Machine::tuple(Vec::new())),
                b'(' => self.stack.push(Val::Mark),
                b'N' => self.stack.push(Val::None),
                0x88 | 0x89 => self.stack.push(Val::Scalar),
                b'K' => self.stack.push(Val::Int(r.u8()? as i64)),
                b'M' => self.stack.push(Val::Int(r.u16()? as i64)),
                b'J' => self.stack.push(Val::Int(r.u32()? as i32 as i64)),
                0x8a => {
                    let n = r.u8()? as usize;
                    if n > 8 {
                        return Err(format!("an integer of {n} bytes is too large"));
                    }
                    let s = r.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &b) in s.iter().enumerate() {
                        v |= (b as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Val::Int(v));
                }
                b'G' => {
                    r.take(8)?;
                    self.stack.push(Val::Scalar);
                }
                b'X' => {
                    let n = r.u32()? as usize;
                    let s = r.text(n)?;
                    self.stack.push(Val::Str(s));
                }
                0x8c => {
                    let n = r.u8()? as usize;
                    let s = r.text(n)?;
                    self.stack.push(Val::Str(s));
                }
                b'c' => {
                    let module = r.line()?;
                    let name = r.line()?;
                    self.stack.push(Val::Global(Global::resolve(module, name)?));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Val::Str(m), Val::Str(n)) = (&module, &name) else {
                        return Err("a global's module and name are not strings".into());
                    };
                    self.stack.push(Val::Global(Global::resolve(m, n)?));
                }
                b'q' => {
                    let k = r.u8()? as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'r' => {
                    let k = r.u32()?;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { r.u8()? as u32 } else { r.u32()? };
                    let v = self
                        .memo
                        .get(&k)
                        .ok_or_else(|| format!("the pickle reads memo {k}, never stored"))?
                        .clone();
                    self.stack.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Machine::tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("the pickle's stack is empty where a value is needed".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    if items.iter().any(|v| matches!(v, Val::Mark)) {
                        return Err("a tuple would hold a mark".into());
                    }
                    self.stack.push(Machine::tuple(items));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(Val::Storage(Rc::new(storage(&pid)?)));
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = reduce(&f, &args)?;
                    if matches!(v, Val::Tensor(_)) {
                        self.tensors_left = self.tensors_left.checked_sub(1).ok_or(
                            "the pickle builds more tensors than a file of its size holds",
                        )?;
                    }
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD sets an object's state; the only object is an OrderedDict,
                    // whose state (`_metadata`, version numbers) holds no weights.
                    self.pop()?;
                    if !matches!(self.top()?, Val::Dict(_)) {
                        return Err("the pickle sets state on something that is not a dict".into());
                    }
                }
                _ => {
                    return Err(format!(
                        "pickle opcode 0x{op:02x} at byte {} is not one a state dict uses",
                        r.at - 1
                    ))
                }
            }
        }
    }
}

/// `('storage', StorageType, key, location, numel)`: a storage record of the archive.
fn storage(pid: &Val) -> Result<Storage, String> {
    let Val::Tuple(t) = pid else {
        return Err(format!("a persistent id is {}, not a tuple", pid.kind()));
    };
    match &t.0[..] {
        [Val::Str(tag), Val::Global(Global::StorageType(dtype)), Val::Str(key), Val::Str(_), numel]
            if &**tag == "storage" =>
        {
            let numel = numel.index("a storage's size")? as u64;
            if key.contains(['/', '\\']) || key.contains("..") {
                return Err(format!("a storage key `{key}` is not a plain name"));
            }
            numel
                .checked_mul(dtype.width())
                .ok_or_else(|| format!("storage `{key}` of {numel} elements overflows"))?;
            Ok(Storage {
                dtype: *dtype,
                key: key.to_string(),
                numel,
            })
        }
        _ => Err("a persistent id is not a storage of a known type".into()),
    }
}

/// Calls one of the allowed globals on its arguments.
fn reduce(f: &Val, args: &Val) -> Result<Val, String> {
    let Val::Tuple(a) = args else {
        return Err(format!(
            "a call's arguments are {}, not a tuple",
            args.kind()
        ));
    };
    let a = &a.0;
    match f {
        Val::Global(Global::OrderedDict) if a.is_empty() => Ok(Val::Dict(Rc::default())),
        Val::Global(Global::RebuildTensor) if a.len() >= 4 => {
            let Val::Storage(storage) = &a[0] else {
                return Err(format!(
                    "a tensor is rebuilt from {}, not a storage",
                    a[0].kind()
                ));
            };
            Ok(Val::Tensor(Rc::new(Tensor {
                storage: storage.clone(),
                offset: a[1].index("a tensor's storage offset")?,
                size: a[2].indices("a tensor's size")?,
                stride: a[3].indices("a tensor's stride")?,
            })))
        }
        Val::Global(Global::RebuildParameter) if !a.is_empty() => match &a[0] {
            t @ Val::Tensor(_) => Ok(t.clone()),
            other => Err(format!("a parameter wraps {}, not a tensor", other.kind())),
        },
        Val::Global(g) => Err(format!("{g:?} is called with arguments it does not take")),
        other => Err(format!("the pickle calls {}", other.kind())),
    }
}

/// The weight files of a checkpoint folder that holds PyTorch files: `pytorch_model.bin`
/// or the shards `pytorch_model.bin.index.json` lists.
pub fn torch_files(dir: &Path) -> Option<Result<Vec<PathBuf>, EngineError>> {
    let single = dir.join("pytorch_model.bin");
    if single.exists() {
        return Some(Ok(vec![single]));
    }
    let index = dir.join("pytorch_model.bin.index.json");
    index.exists().then(|| crate::hf::index_files(&index))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ZIP archive of stored records, as torch.save lays it out.
    fn zip(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in records {
            let offset = out.len() as u32;
            let mut local = Vec::new();
            local.extend(0x0403_4b50u32.to_le_bytes());
            local.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            local.extend(0u32.to_le_bytes()); // crc, unchecked
            local.extend((data.len() as u32).to_le_bytes());
            local.extend((data.len() as u32).to_le_bytes());
            local.extend((name.len() as u16).to_le_bytes());
            local.extend(0u16.to_le_bytes());
            local.extend(name.as_bytes());
            out.extend(&local);
            out.extend(*data);
            central.extend(0x0201_4b50u32.to_le_bytes());
            central.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend(0u32.to_le_bytes());
            central.extend((data.len() as u32).to_le_bytes());
            central.extend((data.len() as u32).to_le_bytes());
            central.extend((name.len() as u16).to_le_bytes());
            central.extend([0u8; 12]);
            central.extend(offset.to_le_bytes());
            central.extend(name.as_bytes());
        }
        let dir = out.len() as u32;
        out.extend(&central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((records.len() as u16).to_le_bytes());
        out.extend((records.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(dir.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    /// `{"w": tensor}` over storage "0" of 6 floats, with the given view.
    fn state_dict(offset: u8, size: &[u8], stride: &[u8]) -> Vec<u8> {
        typed_state_dict("FloatStorage", offset, size, stride)
    }

    fn typed_state_dict(storage: &str, offset: u8, size: &[u8], stride: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'w'];
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend(b"(X\x07\x00\x00\x00storagectorch\n");
        p.extend(storage.as_bytes());
        p.extend(b"\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQ");
        p.extend([b'K', offset, b'(']);
        for &s in size {
            p.extend([b'K', s]);
        }
        p.extend([b't', b'(']);
        for &s in stride {
            p.extend([b'K', s]);
        }
        p.extend(b"t\x89ccollections\nOrderedDict\n)RtRu.");
        p
    }

    fn six_floats() -> Vec<u8> {
        (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect()
    }

    #[test]
    fn a_strided_view_is_gathered_in_row_major_order() {
        // The transpose of a 2×3 matrix: size (3, 2), stride (1, 3).
        let file = zip(&[
            ("archive/data.pkl", &state_dict(0, &[3, 2], &[1, 3])),
            ("archive/byteorder", b"little"),
            ("archive/data/0", &six_floats()),
        ]);
        let t = &parse(&file).unwrap().tensors["w"];
        assert_eq!(t.shape, [3, 2]);
        assert_eq!(t.data, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let file = zip(&[
            ("archive/data.pkl", &state_dict(2, &[2, 2], &[2, 1])),
            ("archive/data/0", &six_floats()),
        ]);
        assert_eq!(
            parse(&file).unwrap().tensors["w"].data,
            [2.0, 3.0, 4.0, 5.0]
        );
    }

    #[test]
    fn a_view_past_or_larger_than_its_storage_is_an_error() {
        let file = zip(&[
            ("archive/data.pkl", &state_dict(0, &[200, 200], &[0, 0])),
            ("archive/data/0", &six_floats()),
        ]);
        assert!(parse(&file).unwrap_err().contains("more elements"));
        let file = zip(&[
            ("archive/data.pkl", &state_dict(3, &[2, 2], &[2, 1])),
            ("archive/data/0", &six_floats()),
        ]);
        let e = parse(&file).unwrap_err();
        assert!(e.contains("`w`") && e.contains("past the storage"), "{e}");
        let file = zip(&[
            ("archive/data.pkl", &state_dict(0, &[2, 3], &[3, 1])),
            ("archive/data/0", &six_floats()[..20]),
        ]);
        assert!(parse(&file).unwrap_err().contains("20 bytes"));
    }

    #[test]
    fn a_global_outside_the_state_dict_kinds_is_refused_by_name() {
        // What `pickle.dumps` writes for an object whose __reduce__ is os.system.
        let evil = b"\x80\x02cposix\nsystem\nq\x00X\x05\x00\x00\x00touchq\x01\x85q\x02Rq\x03.";
        let file = zip(&[("archive/data.pkl", evil)]);
        let e = parse(&file).unwrap_err();
        assert!(e.contains("`posix.system`") && e.contains("refused"), "{e}");
    }

    #[test]
    fn damaged_archives_and_pickles_are_errors_not_panics() {
        let good = zip(&[
            ("archive/data.pkl", &state_dict(0, &[2, 3], &[3, 1])),
            ("archive/data/0", &six_floats()),
        ]);
        assert_eq!(parse(&good).unwrap().tensors["w"].data.len(), 6);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut flipped = good.clone();
        for i in 0..good.len() {
            for bit in [0x01, 0x80] {
                flipped[i] ^= bit;
                let _ = parse(&flipped);
                flipped[i] ^= bit;
            }
        }
        assert!(parse(b"\x80\x02\x8a\x0a....")
            .unwrap_err()
            .contains("legacy"));
        assert!(parse(b"hello").unwrap_err().contains("not a PyTorch"));
    }

    #[test]
    fn a_pickle_nested_150000_deep_is_an_error_not_a_stack_overflow() {
        // None wrapped in a one-tuple 150,000 times: 150 KB.
        let mut p = vec![0x80, 2, b'N'];
        p.extend(std::iter::repeat_n(0x85, 150_000));
        p.push(b'.');
        let file = zip(&[("archive/data.pkl", &p)]);
        let e = parse(&file).unwrap_err();
        assert!(e.contains("a tuple, not a state dict"), "{e}");
        // Lists appended into one another after they were made, so no depth is known
        // when each is built: the last holder still drops them one at a time.
        let mut p = vec![0x80, 2];
        for k in 0..60_000u32 {
            p.push(b']');
            p.push(b'r');
            p.extend(k.to_le_bytes());
        }
        for k in 0..59_999u32 {
            p.push(b'j');
            p.extend(k.to_le_bytes());
            p.push(b'j');
            p.extend((k + 1).to_le_bytes());
            p.push(b'a');
        }
        p.push(b'.');
        let file = zip(&[("archive/data.pkl", &p)]);
        assert!(parse(&file).is_err());
    }

    #[test]
    fn integer_tensors_are_named_and_negative_sizes_say_so() {
        let file = zip(&[
            (
                "archive/data.pkl",
                &typed_state_dict("LongStorage", 0, &[2], &[1]),
            ),
            ("archive/data/0", &[0u8; 48]),
        ]);
        let dict = parse(&file).unwrap();
        assert!(dict.tensors.is_empty());
        assert_eq!(dict.integer["w"], "int64");
        let mut p = state_dict(0, &[2, 3], &[3, 1]);
        // The stride's last `K 1` becomes `J -1`.
        let at = p.windows(3).rposition(|w| w == [b'K', 1, b't']).unwrap();
        p.splice(at..at + 2, [b'J', 0xff, 0xff, 0xff, 0xff]);
        let file = zip(&[("archive/data.pkl", &p), ("archive/data/0", &six_floats())]);
        let e = parse(&file).unwrap_err();
        assert!(e.contains("stride is -1: negative"), "{e}");
    }

    #[test]
    fn a_weight_stored_as_integers_is_named_with_its_type() {
        let config = crate::ModelConfig::llama(16, 8, 1, 2, 16, 32);
        let name = b"model.embed_tokens.weight";
        let p = typed_state_dict("LongStorage", 0, &[2], &[1]);
        let at = p
            .windows(6)
            .position(|w| w == b"X\x01\x00\x00\x00w")
            .unwrap();
        let mut renamed = p[..at].to_vec();
        renamed.push(b'X');
        renamed.extend((name.len() as u32).to_le_bytes());
        renamed.extend(name);
        renamed.extend(&p[at + 6..]);
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::to_string(&config.to_hf_json()).unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let file = zip(&[
            ("archive/data.pkl", &renamed),
            ("archive/data/0", &[0u8; 48]),
        ]);
        std::fs::write(dir.path().join("pytorch_model.bin"), file).unwrap();
        let e = crate::read_checkpoint(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("model.embed_tokens.weight") && e.contains("stored as int64"),
            "{e}"
        );
    }

    #[test]
    fn a_million_tensors_in_a_small_file_are_refused_before_they_are_built() {
        // One storage of one float, memoised, viewed by 10⁶ tensors of about 25 bytes of
        // pickle each: `name`, rebuild, (storage, 0, (1,), (1,)), REDUCE.
        let mut p = vec![0x80, 2, b'}', b'('];
        for k in 0..1_000_000u32 {
            let name = k.to_string();
            p.push(b'X');
            p.extend((name.len() as u32).to_le_bytes());
            p.extend(name.as_bytes());
            if k == 0 {
                p.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01(");
                p.extend(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n");
                p.extend(b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQq\x02");
            } else {
                p.extend(b"h\x01(h\x02");
            }
            p.extend(b"K\x00K\x01\x85K\x01\x85tR");
        }
        p.extend(b"u.");
        let file = zip(&[("archive/data.pkl", &p), ("archive/data/0", &[0u8; 4])]);
        let e = parse(&file).unwrap_err();
        assert!(e.contains("more tensors than a file of its size"), "{e}");
        // The first thousand are a state dict like any other.
        let cut = p
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'R')
            .nth(999)
            .unwrap()
            .0;
        let mut small = p[..=cut].to_vec();
        small.extend(b"u.");
        let file = zip(&[("archive/data.pkl", &small), ("archive/data/0", &[0u8; 4])]);
        assert_eq!(parse(&file).unwrap().tensors.len(), 1000);
    }
}
