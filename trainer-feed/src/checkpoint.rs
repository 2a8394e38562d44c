//! Tensor files in the safetensors format (<https://github.com/huggingface/safetensors>, "Format"): an
//! 8-byte little-endian header length `N`, `N` bytes of JSON mapping each tensor name to its `dtype`,
//! `shape` and `data_offsets` (plus a `__metadata__` map of strings), then the tensors' bytes. Training
//! checkpoints are such files (see [`crate::Trainer::checkpoint`]), so `safetensors.safe_open` and
//! `safetensors.torch.load_file` read them unchanged.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Why a tensor file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file is shorter than its header says, or the header is not the JSON the format prescribes.
    #[error("not a safetensors file: {0}")]
    Format(String),
    /// A tensor the reader needs is absent, or has another dtype or shape.
    #[error("tensor '{name}': {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The `__metadata__` entry the reader needs is absent or does not parse.
    #[error("metadata '{key}': {problem}")]
    Metadata {
        /// The metadata key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// One `f32` tensor to write.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// Its name in the file.
    pub name: &'a str,
    /// Its dimensions; their product is `data.len()`.
    pub shape: &'a [usize],
    /// Its elements, row-major.
    pub data: &'a [f32],
}

/// Serialises `tensors` (as `F32`) and string `metadata` into one safetensors file.
pub fn write(tensors: &[TensorRef<'_>], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = Map::new();
    header.insert("__metadata__".to_string(), json!(metadata));
    let mut offset = 0usize;
    for tensor in tensors {
        let bytes = tensor.data.len() * 4;
        header.insert(
            tensor.name.to_string(),
            json!({"dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    // The format recommends padding the header with spaces so the data starts 8-byte aligned.
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for tensor in tensors {
        for value in tensor.data {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out
}

/// A parsed safetensors file, borrowing its bytes.
#[derive(Debug)]
pub struct TensorFile<'a> {
    header: Map<String, Value>,
    data: &'a [u8],
}

impl<'a> TensorFile<'a> {
    /// Parses the header of a safetensors file.
    pub fn parse(bytes: &'a [u8]) -> Result<TensorFile<'a>, CheckpointError> {
        let format = |m: &str| CheckpointError::Format(m.to_string());
        let len_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format("shorter than 8 bytes"))?;
        let len = usize::try_from(u64::from_le_bytes(len_bytes))
            .ok()
            .filter(|&len| len <= bytes.len() - 8)
            .ok_or_else(|| format("header length exceeds the file"))?;
        let header: Value = serde_json::from_slice(&bytes[8..8 + len])
            .map_err(|e| CheckpointError::Format(format!("header is not JSON: {e}")))?;
        let Value::Object(header) = header else {
            return Err(format("header is not a JSON object"));
        };
        Ok(TensorFile {
            header,
            data: &bytes[8 + len..],
        })
    }

    /// The string stored under `key` in `__metadata__`.
    pub fn metadata(&self, key: &str) -> Result<&str, CheckpointError> {
        self.header
            .get("__metadata__")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .ok_or_else(|| CheckpointError::Metadata {
                key: key.to_string(),
                problem: "missing".to_string(),
            })
    }

    /// The `F32` tensor `name`, which must have `shape`.
    pub fn tensor_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, CheckpointError> {
        let problem = |p: String| CheckpointError::Tensor {
            name: name.to_string(),
            problem: p,
        };
        let entry = self
            .header
            .get(name)
            .ok_or_else(|| problem("missing".to_string()))?;
        if entry.get("dtype").and_then(Value::as_str) != Some("F32") {
            return Err(problem(format!(
                "dtype {:?}, expected F32",
                entry.get("dtype")
            )));
        }
        let found: Option<Vec<usize>> =
            entry
                .get("shape")
                .and_then(Value::as_array)
                .and_then(|dims| {
                    dims.iter()
                        .map(|d| d.as_u64().map(|d| d as usize))
                        .collect()
                });
        if found.as_deref() != Some(shape) {
            return Err(problem(format!("shape {found:?}, expected {shape:?}")));
        }
        let offsets: Option<Vec<usize>> = entry
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|o| o.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
        let bytes = match offsets.as_deref() {
            Some(&[begin, end])
                if begin <= end
                    && end <= self.data.len()
                    && end - begin == 4 * shape.iter().product::<usize>() =>
            {
                &self.data[begin..end]
            }
            _ => {
                return Err(problem(format!(
                    "data_offsets {offsets:?} do not fit the file"
                )));
            }
        };
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tensors_and_metadata_round_trip() {
        let a = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0];
        let b = [7.5f32];
        let metadata = BTreeMap::from([("k".to_string(), "{\"x\": 1}".to_string())]);
        let bytes = write(
            &[
                TensorRef {
                    name: "a",
                    shape: &[2, 3],
                    data: &a,
                },
                TensorRef {
                    name: "b",
                    shape: &[1],
                    data: &b,
                },
            ],
            &metadata,
        );
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0);
        let file = TensorFile::parse(&bytes).unwrap();
        assert_eq!(file.tensor_f32("a", &[2, 3]).unwrap(), a);
        assert_eq!(file.tensor_f32("b", &[1]).unwrap(), b);
        assert_eq!(file.metadata("k").unwrap(), "{\"x\": 1}");
        assert!(file.tensor_f32("a", &[3, 2]).is_err());
        assert!(file.tensor_f32("c", &[1]).is_err());
        assert!(file.metadata("z").is_err());
        assert!(TensorFile::parse(&bytes[..20]).is_err());
        assert!(
            TensorFile::parse(&bytes[..bytes.len() - 4])
                .unwrap()
                .tensor_f32("b", &[1])
                .is_err()
        );
    }
}
