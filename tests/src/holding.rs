//! A loopback server whose `/wait` holds calls until the test lets them go,
//! for tests that need calls running at a moment of their choosing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A server whose `/wait` holds each call until the test lets them all go;
/// returns its URL, the count of calls waiting, and the release.
pub async fn holding_server() -> (
    String,
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::sync::watch::Sender<bool>,
) {
    use std::sync::atomic::AtomicUsize;
    let (release, released) = tokio::sync::watch::channel(false);
    let waiting = Arc::new(AtomicUsize::new(0));
    let state = (waiting.clone(), released);
    let app = axum::Router::new()
        .route(
            "/wait",
            axum::routing::get(
                |axum::extract::State((waiting, mut released)): axum::extract::State<(
                    Arc<AtomicUsize>,
                    tokio::sync::watch::Receiver<bool>,
                )>| async move {
                    waiting.fetch_add(1, Ordering::SeqCst);
                    // Bounded: a test that forgets to release still ends.
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_secs(30), released.wait_for(|go| *go))
                            .await;
                    "ok"
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, waiting, release)
}
