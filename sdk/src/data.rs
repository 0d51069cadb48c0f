//! The tenant's synced records, for agents. Only streams the manifest declares
//! and the tenant granted can be read.
//!
//! ```no_run
//! # fn main() -> omnify_sdk::Result<()> {
//! for record in omnify_sdk::data::records("meta-ads", "insights") {
//!     let record: serde_json::Value = record?;
//! }
//! # Ok(()) }
//! ```

use crate::Error;
use crate::host::{self, DataError};
use serde::de::DeserializeOwned;

/// How many records [`records`] asks the host for at a time.
const PAGE_SIZE: u32 = 500;

impl From<DataError> for Error {
    fn from(error: DataError) -> Self {
        match error {
            DataError::NotGranted(m) => Error::Config(format!("stream not granted: {m}")),
            DataError::Unavailable(m) => Error::Transient(format!("record store: {m}")),
        }
    }
}

/// A stream this agent may read, as `(connector, stream)`.
pub fn streams() -> Vec<(String, String)> {
    host::data_streams()
        .into_iter()
        .map(|s| (s.connector, s.stream))
        .collect()
}

/// One page of raw JSON records and the position after it.
pub fn read_page(
    connector: &str,
    stream: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<(Vec<String>, Option<String>), Error> {
    let page = host::data_read(connector, stream, after, limit)?;
    Ok((page.records, page.next))
}

/// Every record of a stream, deserialized into `T`, fetched page by page.
pub fn records<T: DeserializeOwned>(connector: &str, stream: &str) -> Records<T> {
    Records {
        connector: connector.to_string(),
        stream: stream.to_string(),
        buffer: Vec::new().into_iter(),
        next: None,
        done: false,
        _type: std::marker::PhantomData,
    }
}

/// Iterator returned by [`records`].
pub struct Records<T> {
    connector: String,
    stream: String,
    buffer: std::vec::IntoIter<String>,
    next: Option<String>,
    done: bool,
    _type: std::marker::PhantomData<T>,
}

impl<T: DeserializeOwned> Iterator for Records<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(json) = self.buffer.next() {
                return Some(serde_json::from_str(&json).map_err(Error::from));
            }
            if self.done {
                return None;
            }
            match read_page(&self.connector, &self.stream, self.next.as_deref(), PAGE_SIZE) {
                Ok((records, next)) => {
                    self.done = next.is_none();
                    self.next = next;
                    self.buffer = records.into_iter();
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}
