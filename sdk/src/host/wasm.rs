//! Capability calls inside a component: straight to the generated bindings.

use super::{DataError, HttpError, KvError, Level, Page, Request, Response, SecretError, StreamRef};
use crate::bindings::imports as host;
use std::time::Duration;

pub(crate) fn config_get_all() -> String {
    host::config::get_all()
}

pub(crate) fn config_get(key: &str) -> Option<String> {
    host::config::get(key)
}

pub(crate) fn secret(name: &str) -> Result<String, SecretError> {
    host::secrets::get(name)
}

pub(crate) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    host::kv::get(key)
}

pub(crate) fn kv_set(key: &str, value: &[u8]) -> Result<(), KvError> {
    host::kv::set(key, value)
}

pub(crate) fn kv_delete(key: &str) -> Result<bool, KvError> {
    host::kv::delete(key)
}

pub(crate) fn kv_list_keys(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, KvError> {
    host::kv::list_keys(prefix, after, limit)
}

pub(crate) fn log(level: Level, message: &str) {
    host::log::log(level, message);
}

pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
    host::http::send(request)
}

pub(crate) fn data_streams() -> Vec<StreamRef> {
    host::data::streams()
}

pub(crate) fn data_read(
    connector: &str,
    stream: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Page, DataError> {
    host::data::read(connector, stream, after, limit)
}

/// A wait inside the call, for retries.
pub(crate) fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}
