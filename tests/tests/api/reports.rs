//! `GET /v1/tenants/{t}/reports/{dataset}`: CSV and XLSX that read back
//! into the same rows as the API, and clear refusals for bad ranges.

use super::*;
use calamine::{Data, Reader, Xlsx};

async fn download(world: &World, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let response = world
        .host
        .request(Method::GET, path)
        .bearer_auth(token)
        .send()
        .await
        .expect("the host answers");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, response.bytes().await.expect("a body").to_vec())
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|row| row.expect("a row").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_records_reports_hold_the_apis_rows_in_csv_and_xlsx() {
    let world = world().await;
    let host = &world.host;
    let sync = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/sync",
            Some(&world.acme_operator),
            Some(&json!({})),
        )
        .await;
    assert_eq!(sync.status, 202, "{}", sync.text);
    let run = sync.json["id"].as_str().expect("run id").to_string();
    host.wait_for_run(&world.admin, "acme", &run).await;
    let (viewer, _) = host.create_key(&world.admin, "acme", "viewer").await;

    let usage = host
        .call(Method::GET, "/v1/tenants/acme/usage", Some(&viewer), None)
        .await;
    let usage = usage.json.as_array().cloned().expect("usage rows");
    assert!(!usage.is_empty());
    let (status, kind, bytes) = download(&world, &viewer, "/v1/tenants/acme/reports/usage").await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    let (header, rows) = csv_rows(&bytes);
    assert_eq!(rows.len(), usage.len());
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    for (row, expected) in rows.iter().zip(&usage) {
        assert_eq!(
            row[column("plugin")],
            expected["plugin"].as_str().expect("plugin")
        );
        assert_eq!(row[column("day")], expected["day"].as_str().expect("day"));
        assert_eq!(row[column("calls")], expected["calls"].to_string());
    }

    let (status, _, bytes) = download(&world, &viewer, "/v1/tenants/acme/reports/usage?format=xlsx").await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("an XLSX file");
    let sheet = workbook.worksheet_range("usage").expect("the usage sheet");
    let mut lines = sheet.rows();
    let names: Vec<String> = lines
        .next()
        .expect("a header")
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(names, header, "the same columns as the CSV");
    let calls = names.iter().position(|n| n == "calls").expect("calls");
    let read: Vec<f64> = lines
        .map(|line| match &line[calls] {
            Data::Float(value) => *value,
            other => panic!("calls is a number, not {other:?}"),
        })
        .collect();
    let expected: Vec<f64> = usage.iter().filter_map(|u| u["calls"].as_f64()).collect();
    assert_eq!(read, expected);

    // Records: every record of the stream, as the records API pages them.
    let records = host
        .call(
            Method::GET,
            "/v1/tenants/acme/records/hello-connector/greetings?limit=1000",
            Some(&viewer),
            None,
        )
        .await;
    let records = records.json["records"].as_array().cloned().expect("records");
    let path = "/v1/tenants/acme/reports/records?connector=hello-connector&stream=greetings";
    let (status, _, bytes) = download(&world, &viewer, path).await;
    assert_eq!(status, 200);
    let (header, rows) = csv_rows(&bytes);
    assert_eq!(rows.len(), records.len());
    let id = header.iter().position(|h| h == "id").expect("an id column");
    let ids: Vec<String> = rows.iter().map(|r| r[id].clone()).collect();
    let expected: Vec<String> = records.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids, expected);
    // Greetings have no `date`: a range of days holds none of them.
    let (status, _, bytes) = download(&world, &viewer, &format!("{path}&from=2026-01-01")).await;
    assert_eq!(status, 200);
    assert!(csv_rows(&bytes).1.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_requests_are_refused_clearly() {
    let world = world().await;
    let token = world.acme_operator.as_str();
    for (path, status, says) in [
        (
            "/v1/tenants/acme/reports/usage?from=2026-03-02&to=2026-03-01",
            422,
            "after",
        ),
        ("/v1/tenants/acme/reports/usage?from=March", 422, "from"),
        ("/v1/tenants/acme/reports/records", 422, "connector"),
        ("/v1/tenants/acme/reports/usage?format=pdf", 400, "format"),
        (
            "/v1/tenants/acme/reports/everything",
            400,
            "unknown variant `everything`",
        ),
    ] {
        let (got, _, body) = download(&world, token, path).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{path}: {text}");
        assert!(text.contains(says), "{path}: {text}");
    }
    let (got, _, _) = download(&world, &world.rival_operator, "/v1/tenants/acme/reports/usage").await;
    assert_eq!(got, 403, "another tenant's key");
}
