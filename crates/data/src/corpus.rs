use std::io::BufRead;
use std::path::{Path, PathBuf};

use emergent_rng::Rng;

use crate::DataError;

/// Where a corpus comes from.
#[derive(Debug, Clone)]
pub enum CorpusSource {
    /// Plain text: documents are separated by blank lines.
    Text(PathBuf),
    /// JSON Lines with one document per line in the string field `field`.
    Jsonl { path: PathBuf, field: String },
    /// Parquet with one document per row in the string column `column`.
    Parquet { path: PathBuf, column: String },
}

impl CorpusSource {
    /// Chooses the reader by extension: `.jsonl`/`.json` as JSONL, `.parquet` as
    /// Parquet, anything else as text.
    pub fn from_path(path: &Path, field: &str) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => CorpusSource::Parquet {
                path: path.into(),
                column: field.into(),
            },
            Some("jsonl") | Some("json") => CorpusSource::Jsonl {
                path: path.into(),
                field: field.into(),
            },
            _ => CorpusSource::Text(path.into()),
        }
    }
}

/// Reads all documents of a user corpus.
pub fn read_corpus(source: &CorpusSource) -> Result<Vec<String>, DataError> {
    match source {
        CorpusSource::Text(path) => {
            let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                let at = e.utf8_error().valid_up_to();
                let raw = e.as_bytes();
                DataError::Line {
                    path: path.clone(),
                    line: raw[..at].iter().filter(|&&b| b == b'\n').count() + 1,
                    message: format!("not UTF-8 (byte {at} of the file)"),
                }
            })?;
            let mut docs = Vec::new();
            let mut cur = String::new();
            for line in text.lines() {
                if line.trim().is_empty() {
                    if !cur.is_empty() {
                        docs.push(std::mem::take(&mut cur));
                    }
                } else {
                    if !cur.is_empty() {
                        cur.push('\n');
                    }
                    cur.push_str(line);
                }
            }
            if !cur.is_empty() {
                docs.push(cur);
            }
            Ok(docs)
        }
        CorpusSource::Jsonl { path, field } => read_jsonl_field(path, field),
        CorpusSource::Parquet { path, column } => read_parquet(path, column),
    }
}

/// The string field `field` of every line of a JSONL corpus (blank lines skipped): its
/// documents, or each document's domain.
pub fn read_jsonl_field(path: &Path, field: &str) -> Result<Vec<String>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| DataError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| at(format!("invalid JSON: {e}")))?;
        match v.get(field) {
            Some(serde_json::Value::String(s)) => out.push(s.clone()),
            Some(_) => return Err(at(format!("field `{field}` is not a string"))),
            None => return Err(at(format!("missing field `{field}`"))),
        }
    }
    Ok(out)
}

fn read_parquet(path: &Path, column: &str) -> Result<Vec<String>, DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(f)
        .map_err(|e| DataError::file(path, format!("not a readable Parquet file: {e}")))?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.path().string())
        .collect();
    if !names.iter().any(|n| n == column) {
        return Err(DataError::file(
            path,
            format!("no column `{column}` (columns: {})", names.join(", ")),
        ));
    }
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| DataError::file(path, e.to_string()))?;
    let mut docs = Vec::new();
    let mut nulls = 0usize;
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| DataError::file(path, format!("row {}: {e}", i + 1)))?;
        match row
            .get_column_iter()
            .find(|(n, _)| n.as_str() == column)
            .map(|(_, f)| f)
        {
            Some(Field::Str(s)) => docs.push(s.clone()),
            Some(Field::Null) | None => nulls += 1,
            Some(other) => {
                return Err(DataError::file(
                    path,
                    format!(
                        "row {}: column `{column}` holds {other}, not a string",
                        i + 1
                    ),
                ));
            }
        }
    }
    if nulls > 0 {
        eprintln!(
            "warning: {}: {nulls} rows have no `{column}` (null): left out of the corpus",
            path.display()
        );
    }
    Ok(docs)
}

/// Splits documents into (train, validation) by document, seeded; at least one
/// document goes to each side when there are two or more.
pub fn split_documents<T>(
    mut docs: Vec<T>,
    validation_fraction: f64,
    seed: u64,
) -> (Vec<T>, Vec<T>) {
    let mut rng = Rng::derive(seed, 0x5911);
    rng.shuffle(&mut docs);
    let mut n_val = (docs.len() as f64 * validation_fraction).round() as usize;
    if docs.len() >= 2 {
        n_val = n_val.clamp(1, docs.len() - 1);
    }
    let train = docs.split_off(n_val);
    (train, docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_in_a_text_corpus_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, b"first doc\n\nsecond \xff doc\n").unwrap();
        let e = read_corpus(&CorpusSource::Text(p)).unwrap_err().to_string();
        assert!(e.contains("c.txt:3") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn a_jsonl_domain_field_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(&p, "{\"text\": \"a\", \"src\": \"web\"}\n\n{\"text\": \"b\", \"src\": \"code\"}\n{\"text\": \"c\"}\n").unwrap();
        let e = read_jsonl_field(&p, "src").unwrap_err().to_string();
        assert!(
            e.contains("c.jsonl:4") && e.contains("missing field `src`"),
            "{e}"
        );
        std::fs::write(
            &p,
            "{\"text\": \"a\", \"src\": \"web\"}\n\n{\"text\": \"b\", \"src\": \"code\"}\n",
        )
        .unwrap();
        assert_eq!(read_jsonl_field(&p, "src").unwrap(), ["web", "code"]);
        assert_eq!(read_jsonl_field(&p, "text").unwrap(), ["a", "b"]);
    }

    #[test]
    fn jsonl_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(&p, "{\"text\": \"a\"}\n{\"text\": 3}\n").unwrap();
        let e = read_corpus(&CorpusSource::from_path(&p, "text"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.jsonl:2") && e.contains("`text`"), "{e}");
        std::fs::write(&p, "{\"text\": \"a\"}\n{oops\n").unwrap();
        let e = read_corpus(&CorpusSource::from_path(&p, "text"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.jsonl:2") && e.contains("invalid JSON"), "{e}");
        std::fs::write(&p, "{\"body\": \"a\"}\n").unwrap();
        let e = read_corpus(&CorpusSource::from_path(&p, "text"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.jsonl:1") && e.contains("missing field `text`"),
            "{e}"
        );
    }

    fn write_parquet(path: &Path, texts: &[&str]) {
        use parquet::data_type::{ByteArray, ByteArrayType};
        use parquet::file::writer::SerializedFileWriter;
        let schema = std::sync::Arc::new(
            parquet::schema::parser::parse_message_type(
                "message doc { REQUIRED BYTE_ARRAY text (UTF8); }",
            )
            .unwrap(),
        );
        let mut w = SerializedFileWriter::new(
            std::fs::File::create(path).unwrap(),
            schema,
            Default::default(),
        )
        .unwrap();
        let mut rg = w.next_row_group().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        let values: Vec<ByteArray> = texts.iter().map(|t| ByteArray::from(*t)).collect();
        col.typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        col.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
    }

    #[test]
    fn parquet_text_column_is_read_and_a_missing_column_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.parquet");
        write_parquet(&p, &["first document", "second, with 数字"]);
        let docs = read_corpus(&CorpusSource::from_path(&p, "text")).unwrap();
        assert_eq!(docs, vec!["first document", "second, with 数字"]);
        let e = read_corpus(&CorpusSource::from_path(&p, "body"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.parquet") && e.contains("no column `body`") && e.contains("text"),
            "{e}"
        );
        std::fs::write(&p, b"PAR1 not really").unwrap();
        let e = read_corpus(&CorpusSource::from_path(&p, "text"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.parquet") && e.contains("Parquet"), "{e}");
    }

    #[test]
    fn missing_file_is_named() {
        let e = read_corpus(&CorpusSource::Text("/nonexistent/corpus.txt".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/corpus.txt"), "{e}");
    }

    #[test]
    fn text_splits_on_blank_lines_and_split_is_seeded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "a\nb\n\nc\n\n\nd").unwrap();
        let docs = read_corpus(&CorpusSource::from_path(&p, "text")).unwrap();
        assert_eq!(docs, vec!["a\nb", "c", "d"]);
        let (t1, v1) = split_documents(docs.clone(), 0.34, 7);
        let (t2, v2) = split_documents(docs, 0.34, 7);
        assert_eq!((t1.len(), v1.len()), (2, 1));
        assert_eq!((t1, v1), (t2, v2));
    }
}
