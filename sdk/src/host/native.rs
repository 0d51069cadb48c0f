//! Capability calls in a native build: to the test harness active on the
//! current thread, or a clear panic when there is none.

use super::{DataError, HttpError, KvError, Level, Page, Request, Response, SecretError, StreamRef};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// What serves the capabilities natively; implemented by the test harness.
pub(crate) trait Backend {
    fn config_get_all(&self) -> String;
    fn config_get(&self, key: &str) -> Option<String>;
    fn secret(&self, name: &str) -> Result<String, SecretError>;
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn kv_delete(&self, key: &str) -> Result<bool, KvError>;
    fn kv_list_keys(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, KvError>;
    fn log(&self, level: Level, message: &str);
    fn http_send(&self, request: &Request) -> Result<Response, HttpError>;
    fn data_streams(&self) -> Vec<StreamRef>;
    fn data_read(
        &self,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, DataError>;
    fn sleep(&self, duration: Duration);
}

thread_local! {
    static ACTIVE: RefCell<Option<Rc<dyn Backend>>> = const { RefCell::new(None) };
}

/// Makes `backend` serve this thread's capability calls until dropped, then
/// restores whichever served them before (so runs can nest).
pub(crate) struct Installed {
    previous: Option<Rc<dyn Backend>>,
}

pub(crate) fn install(backend: Rc<dyn Backend>) -> Installed {
    let previous = ACTIVE.with(|active| active.borrow_mut().replace(backend));
    Installed { previous }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ACTIVE.with(|active| *active.borrow_mut() = previous);
    }
}

fn active() -> Option<Rc<dyn Backend>> {
    ACTIVE.with(|active| active.borrow().clone())
}

/// The active backend; `call` names the SDK function for the panic message.
fn backend(call: &str) -> Rc<dyn Backend> {
    match active() {
        Some(backend) => backend,
        None => panic!(
            "{call} called outside the Omnify host; run it inside \
             omnify_sdk::testing::Harness::run (see the SDK docs)"
        ),
    }
}

pub(crate) fn config_get_all() -> String {
    backend("omnify_sdk::config::get").config_get_all()
}

pub(crate) fn config_get(key: &str) -> Option<String> {
    backend("omnify_sdk::config::setting").config_get(key)
}

pub(crate) fn secret(name: &str) -> Result<String, SecretError> {
    backend("omnify_sdk::secrets::get").secret(name)
}

pub(crate) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    backend("omnify_sdk::kv::get").kv_get(key)
}

pub(crate) fn kv_set(key: &str, value: &[u8]) -> Result<(), KvError> {
    backend("omnify_sdk::kv::set").kv_set(key, value)
}

pub(crate) fn kv_delete(key: &str) -> Result<bool, KvError> {
    backend("omnify_sdk::kv::delete").kv_delete(key)
}

pub(crate) fn kv_list_keys(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, KvError> {
    backend("omnify_sdk::kv::list_keys").kv_list_keys(prefix, after, limit)
}

pub(crate) fn log(level: Level, message: &str) {
    backend("omnify_sdk::log").log(level, message);
}

pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
    backend("omnify_sdk::http::RequestBuilder::send").http_send(request)
}

pub(crate) fn data_streams() -> Vec<StreamRef> {
    backend("omnify_sdk::data::streams").data_streams()
}

pub(crate) fn data_read(
    connector: &str,
    stream: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Page, DataError> {
    backend("omnify_sdk::data::read_page").data_read(connector, stream, after, limit)
}

/// A wait inside the call, for retries. Under the harness it is recorded
/// instead of waited, so that tests of retries run at once.
pub(crate) fn sleep(duration: Duration) {
    match active() {
        Some(backend) => backend.sleep(duration),
        None => std::thread::sleep(duration),
    }
}
