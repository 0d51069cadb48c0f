//! A connector that misbehaves on request, to prove the sandbox holds.
//!
//! Each action is one kind of misbehaviour; `ok` is a well-behaved call. The
//! other exports are minimal so that the component is a valid connector.

use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
use omnify_sdk::{Error, Value, http, json, kv};
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

struct Hostile;

fn text(input: &Value, field: &str) -> Result<String, Error> {
    input
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::invalid_input(format!("`{field}` is required")))
}

fn number(input: &Value, field: &str, default: u64) -> u64 {
    input.get(field).and_then(Value::as_u64).unwrap_or(default)
}

/// Recurse without a base case the optimiser can see through.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[1]
}

/// Pages of static memory `remember` marks; more than fit in the pages the
/// host resets in place, so both of its ways of resetting are seen.
const MARKED_PAGES: usize = 768;

/// One byte in each of [`MARKED_PAGES`] pages of this instance's memory.
static MARKS: [AtomicU8; MARKED_PAGES * 4096] = [const { AtomicU8::new(0) }; MARKED_PAGES * 4096];

/// What an earlier call left in this instance's memory: how many calls
/// counted before this one, and how many pages it finds marked; then it
/// counts and marks them itself.
fn remember() -> Value {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let calls_before = CALLS.fetch_add(1, Ordering::Relaxed);
    let marked_before = (0..MARKED_PAGES)
        .filter(|page| MARKS[page * 4096].swap(1, Ordering::Relaxed) != 0)
        .count();
    json!({"calls_before": calls_before, "marked_pages_before": marked_before})
}

impl Connector for Hostile {
    fn spec() -> Value {
        json!({"type": "object"})
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(Vec::new())
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        Err(Error::not_found(format!("no stream `{}`", request.stream)))
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        match name {
            "ok" => Ok(json!({"ok": true})),
            "remember" => Ok(remember()),
            "spin" => {
                let mut counter = 0u64;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            "host-loop" => loop {
                omnify_sdk::log::trace("still here");
            },
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "recurse" => Ok(json!(recurse(0))),
            "huge-output" => {
                let bytes = number(&input, "bytes", 32 << 20) as usize;
                Ok(Value::String("x".repeat(bytes)))
            }
            "panic" => panic!("boom: the plugin gave up at step {}", black_box(7)),
            "kv-flood" => {
                let value = vec![b'v'; 1024];
                for i in 0.. {
                    kv::set(&format!("flood-{i:08}"), &value)?;
                }
                unreachable!()
            }
            "kv-set" => {
                kv::set(&text(&input, "key")?, text(&input, "value")?.as_bytes())?;
                Ok(json!({"stored": true}))
            }
            "leak-secret" => {
                // What a careless connector does with a platform's answer.
                let secret = omnify_sdk::secrets::get("api_token")?;
                println!("calling with {secret}");
                omnify_sdk::info!("token is {secret}");
                Err(Error::Auth(format!("the platform refused token {secret}")))
            }
            "huge-error" => Err(Error::internal(
                "e".repeat(number(&input, "bytes", 1 << 20) as usize),
            )),
            "kv-set-then-panic" => {
                kv::set(&text(&input, "key")?, b"never kept")?;
                panic!("after a write the host must drop")
            }
            "kv-roundtrip" => {
                let key = text(&input, "key")?;
                kv::set(&key, b"first")?;
                kv::set(&key, b"second")?;
                let seen = kv::get(&key)?.map(|v| String::from_utf8_lossy(&v).into_owned());
                let listed = kv::list_keys(&key, None, 10)?;
                let removed = kv::delete(&key)?;
                let after_delete = kv::get(&key)?.is_some();
                kv::set(&key, b"kept")?;
                Ok(json!({"seen": seen, "listed": listed, "removed": removed, "after_delete": after_delete}))
            }
            "kv-get" => {
                let value = kv::get(&text(&input, "key")?)?;
                Ok(json!({"value": value.map(|v| String::from_utf8_lossy(&v).into_owned())}))
            }
            "kv-list" => Ok(json!(kv::list_keys(&text(&input, "prefix")?, None, 100)?)),
            "http-get" => {
                let response = http::get(text(&input, "url")?)
                    .retry(http::RetryPolicy::none())
                    .send()?;
                Ok(json!({"status": response.status, "body": response.text()}))
            }
            "http-many" => {
                let (url, times) = (text(&input, "url")?, number(&input, "times", 10));
                for done in 0..times {
                    if let Err(error) = http::get(&url).retry(http::RetryPolicy::none()).send() {
                        return Ok(json!({"done": done, "error": error.to_string()}));
                    }
                }
                Ok(json!({"done": times}))
            }
            "http-send" => {
                // {"method": "POST", "url": …, "headers": {name: value}, "body": text}
                let url = text(&input, "url")?;
                let mut request = match input["method"].as_str().unwrap_or("GET") {
                    "POST" => http::post(url),
                    "PUT" => http::put(url),
                    _ => http::get(url),
                };
                if let Some(headers) = input["headers"].as_object() {
                    for (name, value) in headers {
                        request = request.header(name, value.as_str().unwrap_or_default());
                    }
                }
                if let Some(body) = input["body"].as_str() {
                    request = request.body(body.as_bytes().to_vec());
                }
                let response = request.retry(http::RetryPolicy::none()).send()?;
                Ok(json!({"status": response.status, "body": response.text()}))
            }
            "secret" => {
                let secret = omnify_sdk::secrets::get(&text(&input, "name")?)?;
                Ok(json!({"length": secret.len()}))
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(number(&input, "ms", 60_000)));
                Ok(json!({"slept": true}))
            }
            "print" => {
                for i in 0..number(&input, "lines", 10_000) {
                    println!("line {i} of chatter from the plugin");
                }
                Ok(json!({"printed": true}))
            }
            "ambient" => {
                let port = number(&input, "port", 1);
                Ok(json!({
                    "env": std::env::vars().count(),
                    "args": std::env::args().count(),
                    "read_file": std::fs::read_to_string("/etc/passwd").is_ok(),
                    "list_root": std::fs::read_dir("/").is_ok(),
                    "tcp_connect": std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_ok(),
                }))
            }
            other => Err(Error::not_found(format!("no action `{other}`"))),
        }
    }
}

omnify_sdk::export_connector!(Hostile);
