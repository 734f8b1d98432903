//! Text in, tokens out: the built-in generated world, user corpora (plain text,
//! JSONL, Parquet), tables of task documents (JSONL, JSON, CSV, Parquet), a held-out validation split, byte-level BPE tokenizers (Hugging Face
//! `tokenizers`) and memory-mapped token shards.

mod corpus;
mod error;
pub mod lexicon;
mod records;
mod shard;
mod tokenizer;
pub mod world;

pub use corpus::{read_corpus, read_jsonl_field, split_documents, CorpusSource};
pub use error::DataError;
pub use lexicon::Lang;
pub use records::{read_records, Record, RECORD_EXTENSIONS};
pub use shard::{write_shard, Shard, ShardHeader};
pub use tokenizer::{train_bpe, write_tokenizer_config, Tokenizer, EOS_TOKEN};
pub use world::{TaskItem, World, WorldTask, TASK_NAMES, WORLD_REVISION};
