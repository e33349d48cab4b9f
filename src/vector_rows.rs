//! Vectors given beside a paper file: the rows of a NumPy `.npy` matrix
//! (`numpy.save` of an `(papers, dimensions)` array of 32- or 64-bit
//! floats, C order, either byte order), read one row at a time so a
//! million-row file is never held whole. Row `i` belongs to the file's
//! `i`-th record; the pairing itself is left to the ingest.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use npyz::{NpyFile, NpyReader, Order};

use crate::{Error, Result};

/// What to do when a `.npy` file is not a matrix of floats.
const SAVE_HINT: &str = "save the vectors with numpy.save(path, np.ascontiguousarray(vectors, \
                         dtype=np.float32)), one row per paper in the order of the paper file";

/// The rows of a `.npy` matrix, read in order.
pub struct VectorRows {
    path: String,
    rows: usize,
    dim: usize,
    values: Values,
    /// Rows handed out so far.
    taken: usize,
}

/// The matrix's elements as stored.
enum Values {
    F32(NpyReader<f32, BufReader<File>>),
    F64(NpyReader<f64, BufReader<File>>),
}

impl VectorRows {
    /// Opens the matrix at `path` and reads its header.
    pub fn open(path: &Path) -> Result<VectorRows> {
        let name = path.display().to_string();
        let bad = |problem: String| Error::BadInput {
            path: name.clone(),
            problem,
        };
        let file = File::open(path).map_err(|e| Error::Io {
            action: "cannot open the vectors",
            path: path.to_path_buf(),
            cause: e,
        })?;
        let npy = NpyFile::new(BufReader::with_capacity(1 << 20, file))
            .map_err(|e| bad(format!("not a NumPy .npy file ({e}); {SAVE_HINT}")))?;
        let (rows, dim) = match *npy.shape() {
            [rows, dim] => (rows, dim),
            _ => {
                return Err(bad(format!(
                    "holds an array of shape {:?}, but vectors must be a matrix (papers, \
                     dimensions)",
                    npy.shape()
                )))
            }
        };
        if npy.order() != Order::C && rows > 1 && dim > 1 {
            return Err(bad(format!(
                "is stored in Fortran (column) order, so its rows cannot be read one at a time; \
                 {SAVE_HINT}"
            )));
        }
        let too_big = |n: u64| bad(format!("has {n} rows or columns, more than can be read"));
        let rows = usize::try_from(rows).map_err(|_| too_big(rows))?;
        let dim = usize::try_from(dim).map_err(|_| too_big(dim))?;
        let dtype = npy.dtype().descr();
        let values = match npy.try_data::<f32>() {
            Ok(values) => Values::F32(values),
            Err(npy) => match npy.try_data::<f64>() {
                Ok(values) => Values::F64(values),
                Err(_) => {
                    return Err(bad(format!(
                        "holds elements of type {dtype}, not 32- or 64-bit floats; {SAVE_HINT}"
                    )))
                }
            },
        };
        Ok(VectorRows {
            path: name,
            rows,
            dim,
            values,
            taken: 0,
        })
    }

    /// The file as named when opened.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How many rows the matrix has.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// How many values each row has.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows handed out so far (the 0-based number of the next one).
    pub fn taken(&self) -> usize {
        self.taken
    }

    /// The next row, as 32-bit floats (64-bit ones are rounded, so a value
    /// too large for 32 bits becomes infinite); `None` after the last. A
    /// file cut short is an error naming the row.
    pub fn next_row(&mut self) -> Result<Option<Vec<f32>>> {
        if self.taken == self.rows {
            return Ok(None);
        }
        let mut row = Vec::with_capacity(self.dim);
        let read = match &mut self.values {
            Values::F32(values) => values
                .by_ref()
                .take(self.dim)
                .try_for_each(|v| v.map(|v| row.push(v))),
            Values::F64(values) => values
                .by_ref()
                .take(self.dim)
                .try_for_each(|v| v.map(|v| row.push(v as f32))),
        };
        let row_number = self.taken + 1;
        read.map_err(|e| Error::BadInput {
            path: self.path.clone(),
            problem: format!(
                "row {row_number} of {} cannot be read ({e}); the file is cut short or damaged",
                self.rows
            ),
        })?;
        if row.len() != self.dim {
            return Err(Error::BadInput {
                path: self.path.clone(),
                problem: format!(
                    "row {row_number} of {} is cut short; the file is incomplete",
                    self.rows
                ),
            });
        }
        self.taken += 1;
        Ok(Some(row))
    }
}

impl std::fmt::Debug for VectorRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorRows")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("dim", &self.dim)
            .field("taken", &self.taken)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A version 1.0 `.npy` file as numpy writes it.
    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    #[test]
    fn rows_of_f32_and_f64_in_either_byte_order_read_back() {
        let values = [1.0f32, -2.5, 0.25, 3.0, 4.5, -0.125];
        let le: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let be: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let f64s: Vec<u8> = values
            .iter()
            .flat_map(|&v| f64::from(v).to_le_bytes())
            .collect();
        for (descr, body) in [("<f4", le), (">f4", be), ("<f8", f64s)] {
            let file = write(&npy(descr, false, "(2, 3)", &body));
            let mut rows = VectorRows::open(file.path()).unwrap();
            assert_eq!((rows.rows(), rows.dim()), (2, 3), "{descr}");
            assert_eq!(rows.next_row().unwrap().unwrap(), values[..3], "{descr}");
            assert_eq!(rows.next_row().unwrap().unwrap(), values[3..], "{descr}");
            assert!(rows.next_row().unwrap().is_none(), "{descr}");
            assert_eq!(rows.taken(), 2);
        }
    }

    #[test]
    fn wrong_shapes_types_orders_and_short_files_are_clear_errors() {
        let body = vec![0u8; 24];
        let cases = [
            (npy("<f4", false, "(6,)", &body), "matrix"),
            (npy("<i4", false, "(2, 3)", &body), "<i4"),
            (npy("<f4", true, "(2, 3)", &body), "Fortran"),
            (b"not numpy at all".to_vec(), "not a NumPy"),
        ];
        for (bytes, expected) in cases {
            let file = write(&bytes);
            let err = VectorRows::open(file.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(err.contains(&file.path().display().to_string()), "{err}");
        }
        // Two rows promised, one and a half given.
        let file = write(&npy("<f4", false, "(2, 3)", &body[..20]));
        let mut rows = VectorRows::open(file.path()).unwrap();
        assert!(rows.next_row().unwrap().is_some());
        let err = rows.next_row().unwrap_err().to_string();
        assert!(err.contains("row 2 of 2"), "{err}");
    }
}
