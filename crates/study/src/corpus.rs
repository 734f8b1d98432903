//! The first stage: corpus, validation split, tokenizer and token shards, under
//! `data/<hash>/`, each skipped when its output (keyed by a hash of what produced it)
//! already exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emergent_data::{
    read_corpus, read_jsonl_field, split_documents, train_bpe, write_shard, write_tokenizer_config,
    CorpusSource, Shard, Tokenizer, EOS_TOKEN, WORLD_REVISION,
};

use crate::lock::DirLock;
use emergent_files::hash_of;
use sha2::{Digest, Sha256};

use crate::progress::{say, Progress};
use crate::Study;

/// The prepared corpus: tokenizer and shards in one directory.
pub struct Prepared {
    pub dir: PathBuf,
    pub tokenizer: Tokenizer,
    pub train: Shard,
    pub val: Shard,
    /// The validation split per domain, where the corpus has domains.
    pub val_domains: Vec<(String, Shard)>,
}

impl Prepared {
    pub fn tokenizer_files(&self) -> Vec<PathBuf> {
        vec![
            self.dir.join("tokenizer.json"),
            self.dir.join("tokenizer_config.json"),
        ]
    }
}

fn doc_texts(docs: &[(String, Option<String>)]) -> Vec<&str> {
    docs.iter().map(|d| d.0.as_str()).collect()
}

/// A file's size and SHA-256, read in blocks: what a cache keyed by the file holds.
fn content_digest(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        digest.update(&buf[..n]);
    }
    Ok(format!("{size}:{:x}", digest.finalize()))
}

/// Corpus, validation split, tokenizer and shards, under `data/<hash>/`: keyed by the
/// study's corpus and tokenizer settings and by the content of the files they name.
pub fn prepare_corpus(study: &Study, out: &Path, progress: &dyn Progress) -> Result<Prepared> {
    let c = &study.corpus;
    let source = (c.source != "builtin")
        .then(|| content_digest(Path::new(&c.source)))
        .transpose()?;
    let tokenizer_file = study
        .tokenizer
        .path
        .as_ref()
        .map(|p| content_digest(Path::new(p)))
        .transpose()?;
    let settings = (
        &study.corpus,
        &study.tokenizer,
        study.seed,
        study.training.seq_len,
    );
    // The built-in corpus has no files; the world's revision stands in for their content.
    let files = (source, tokenizer_file);
    let key = if c.source == "builtin" {
        hash_of(&(settings, files, WORLD_REVISION))
    } else {
        hash_of(&(settings, files))
    };
    let dir = out.join("data").join(&key);
    // Another process preparing the same corpus is waited for, then its work is used.
    let _lock = DirLock::wait(&out.join(".corpus.lock"))?;
    if !dir.join("done").exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let c = &study.corpus;
        say(progress, format!("corpus: preparing {}", dir.display()));
        let docs: Vec<(String, Option<String>)> = if c.source == "builtin" {
            study
                .world()
                .documents_with_shares(c.builtin_documents, study.seed, &c.genre_shares())
                .map_err(|e| anyhow::anyhow!("field `corpus.genres`: {e}"))?
                .into_iter()
                .map(|(d, g)| (d, Some(g.to_string())))
                .collect()
        } else {
            let path = Path::new(&c.source);
            let docs = read_corpus(&CorpusSource::from_path(path, &c.text_field))?;
            let domains = match &c.domain_field {
                Some(f) => read_jsonl_field(path, f)?.into_iter().map(Some).collect(),
                None => vec![None; docs.len()],
            };
            docs.into_iter().zip(domains).collect()
        };
        if docs.len() < 2 {
            bail!(
                "corpus {}: {} documents; at least 2 are needed for a validation split",
                c.source,
                docs.len()
            );
        }
        let (train_docs, val_docs) = split_documents(docs, c.validation_fraction, study.seed);
        let tokenizer = match &study.tokenizer.path {
            Some(p) => Tokenizer::load(Path::new(p))?,
            None => {
                let texts: Vec<String> = train_docs.iter().map(|d| d.0.clone()).collect();
                train_bpe(&texts, study.tokenizer.vocab_size)?
            }
        };
        tokenizer.save(&dir.join("tokenizer.json"))?;
        write_tokenizer_config(
            &dir,
            study.training.seq_len,
            tokenizer.eos_id().map(|_| EOS_TOKEN),
        )?;
        // Each domain's validation documents get a shard of their own.
        let mut domains: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (text, domain) in &val_docs {
            if let Some(domain) = domain {
                domains.entry(domain.as_str()).or_default().push(text);
            }
        }
        let mut shards = vec![
            ("train.bin".to_string(), doc_texts(&train_docs)),
            ("val.bin".to_string(), doc_texts(&val_docs)),
        ];
        for (i, (domain, docs)) in domains.into_iter().enumerate() {
            shards.push((format!("val-{i}.bin"), docs));
            std::fs::write(dir.join(format!("val-{i}.domain")), domain)?;
        }
        for (name, docs) in shards {
            let mut tokens = Vec::new();
            for d in docs {
                tokens.extend(tokenizer.encode(d));
                tokens.extend(tokenizer.eos_id());
            }
            write_shard(&dir.join(name), &tokens)?;
        }
        std::fs::write(dir.join("done"), "")?;
    }
    let tokenizer = Tokenizer::load(&dir.join("tokenizer.json"))?;
    let train = Shard::open(&dir.join("train.bin"))?;
    let val = Shard::open(&dir.join("val.bin"))?;
    let mut val_domains = Vec::new();
    for i in 0.. {
        let name = dir.join(format!("val-{i}.domain"));
        if !name.exists() {
            break;
        }
        let domain = std::fs::read_to_string(&name)
            .with_context(|| format!("reading {}", name.display()))?;
        val_domains.push((domain, Shard::open(&dir.join(format!("val-{i}.bin")))?));
    }
    say(
        progress,
        format!(
            "corpus: {} training and {} validation tokens, vocabulary {}",
            train.len(),
            val.len(),
            tokenizer.vocab_size()
        ),
    );
    Ok(Prepared {
        dir,
        tokenizer,
        train,
        val,
        val_domains,
    })
}
