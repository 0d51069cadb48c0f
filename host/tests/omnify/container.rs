//! `omnify serve` configured as a container runs it: the master key and the
//! admin token come from a mounted file and the environment, not from the
//! data directory. A configured key that is missing, or a weak token, stops
//! the host with a message saying why, before it listens.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const TOKEN: &str = "oma_0123456789abcdef0123456789abcdef0123456789abcdef";

/// `omnify serve` on `data_dir` with the master key in `key_file` and the
/// admin token `token` in the environment.
fn serve(data_dir: &Path, key_file: &Path, token: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnify"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--master-key-file")
        .arg(key_file)
        .env("OMNIFY_ADMIN_TOKEN", token)
        .env_remove("OMNIFY_ADMIN_TOKEN_FILE");
    command
}

/// Run a `serve` that is expected to refuse to start.
fn refused(mut command: Command) -> Output {
    let output = command.output().expect("omnify serve runs");
    assert!(!output.status.success(), "it started");
    output
}

/// Start `command` and read its output up to the ready line.
fn started(mut command: Command) -> (Child, Vec<String>, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("omnify serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        let api = line
            .strip_prefix("Omnify API on ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        lines.push(line);
        if let Some(api) = api {
            return (child, lines, api);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the host never became ready: {lines:?}");
}

/// The status of listing tenants at `api` with `token`.
async fn status(client: &reqwest::Client, api: &str, token: &str) -> u16 {
    client
        .get(format!("{api}/v1/tenants"))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_and_admin_token_come_from_a_file_and_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, secrets) = (dir.path().join("data"), dir.path().join("secrets"));
    std::fs::create_dir_all(&secrets).expect("the secrets directory");
    let key_file = secrets.join("master.key");

    // A configured key file that is not there is never created.
    let missing = refused(serve(&data, &key_file, TOKEN));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("never created"), "{stderr}");
    assert!(!key_file.exists());

    std::fs::write(&key_file, [7u8; 32]).expect("the mounted key");
    // A token that could be guessed, or one of another kind, is refused.
    for weak in [
        "oma_short",
        "omk_0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let output = refused(serve(&data, &key_file, weak));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("admin token is refused"), "{weak}: {stderr}");
    }

    let (mut child, lines, api) = started(serve(&data, &key_file, TOKEN));
    assert!(
        !lines.iter().any(|line| line.contains("Admin token")),
        "a configured token is never printed: {lines:?}"
    );
    assert!(
        !data.join("master.key").exists(),
        "no second key in the data directory"
    );
    let client = reqwest::Client::new();
    let other = "oma_ffffffffffffffffffffffffffffffffffffffffffffffff";
    assert_eq!(status(&client, &api, TOKEN).await, 200);
    assert_eq!(status(&client, &api, other).await, 401);
    let _ = child.kill();
    let _ = child.wait();

    // From a file, a new token replaces the old one.
    let token_file = secrets.join("admin-token");
    std::fs::write(&token_file, format!("{other}\n")).expect("the token file");
    let mut command = serve(&data, &key_file, "");
    command.env("OMNIFY_ADMIN_TOKEN_FILE", &token_file);
    let (mut child, _, api) = started(command);
    assert_eq!(status(&client, &api, other).await, 200);
    assert_eq!(
        status(&client, &api, TOKEN).await,
        401,
        "the old token no longer opens anything"
    );
    let _ = child.kill();
    let _ = child.wait();
}
