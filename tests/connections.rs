//! Connections to a real `provhost serve` from a raw TCP client on loopback: a client that holds
//! its headers open, a connection left idle, and a body trickled byte by byte are each cut off,
//! while well-behaved requests go on being answered.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use provhost::store::InvocationStore;
use support::Demo;
use support::server::Server;

/// A raw connection to the server.
fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    stream
}

/// What the server sent, and whether it closed the connection, while the client sent `trickle`
/// one piece at a time, a pause between pieces, or until the server closed it.
fn trickle(stream: &mut TcpStream, trickle: impl Iterator<Item = Vec<u8>>) -> (String, bool) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    for piece in trickle {
        if stream.write_all(&piece).is_err() {
            return (String::from_utf8_lossy(&received).into_owned(), true);
        }
        std::thread::sleep(Duration::from_millis(100));
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return (String::from_utf8_lossy(&received).into_owned(), true),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(_) => return (String::from_utf8_lossy(&received).into_owned(), true),
            }
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), false)
}

fn healthy(server: &Server) {
    let response = reqwest::blocking::get(server.url("/healthz")).unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[test]
fn a_client_holding_its_headers_open_or_idle_is_cut_off_and_others_are_still_served() {
    let demo = Demo::new();
    let server = Server::start(&demo, &["--header-timeout-ms", "500"]);
    let mut slow = connect(&server);
    let mut idle = connect(&server);
    let headers = std::iter::once(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec())
        .chain((0..300).map(|n| format!("X-Slow-{n}: still coming\r\n").into_bytes()));
    let (_, closed) = trickle(&mut slow, headers);
    assert!(closed, "a client sending a header every 100 ms for 30 s was never cut off");
    healthy(&server);
    let (sent, closed) = trickle(&mut idle, std::iter::repeat_n(Vec::new(), 300));
    assert!(closed && sent.is_empty(), "an idle connection is closed too: {sent:?}");
}

#[test]
fn a_body_trickled_byte_by_byte_is_answered_408_and_its_connection_closed() {
    let demo = Demo::new();
    let server = Server::start(&demo, &["--body-timeout-ms", "500"]);
    let basic = base64::engine::general_purpose::STANDARD.encode(&demo.key);
    let mut stream = connect(&server);
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    let body = std::iter::once(head.into_bytes()).chain(std::iter::repeat_n(b" ".to_vec(), 998));
    let (answer, closed) = trickle(&mut stream, body);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("/problems/body-timeout") && answer.contains("within 500 ms"), "{answer}");
    assert!(closed, "the rest of the body is not waited for: {answer}");
    healthy(&server);

    // A body sent at once is read as ever.
    let response = reqwest::blocking::Client::new()
        .post(server.url("/v1/events"))
        .basic_auth(demo.key.split_once(':').unwrap().0, Some(demo.key.split_once(':').unwrap().1))
        .header("content-type", "application/json")
        .body(std::fs::read(support::mail_changed()).unwrap())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// Fills the demo tenant's trail with 60 invocation records of about 80 kB each.
fn large_records(demo: &Demo) {
    let store = provhost::store::SqliteStore::open(&demo.dir.path().join("provhost.db")).unwrap();
    for i in 0..60 {
        let detail = format!("run {i} {}", "x".repeat(40_000));
        let record = provhost::audit::InvocationRecord::history(&provhost::model::new_id(), "demo", "test", &detail);
        store.commit_invocation(&record, &[]).unwrap();
    }
}

/// `GET path` with the demo's key: the status and the body.
fn get(server: &Server, demo: &Demo, path: &str) -> (u16, Vec<u8>) {
    let (id, secret) = demo.key.split_once(':').unwrap();
    let response = reqwest::blocking::Client::new().get(server.url(path)).basic_auth(id, Some(secret)).send().unwrap();
    (response.status().as_u16(), response.bytes().unwrap().to_vec())
}

#[test]
fn audit_pages_of_large_records_stay_within_four_mib_and_next_offset_walks_every_record_once() {
    let demo = Demo::new();
    large_records(&demo);
    let server = Server::start(&demo, &[]);
    let (mut seen, mut pages, mut offset) = (Vec::new(), 0, Some(0));
    while let Some(at) = offset {
        let (status, body) = get(&server, &demo, &format!("/v1/audit?limit=500&offset={at}"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(body.len() <= 4 << 20, "a page of {} bytes", body.len());
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()));
        offset = page["next_offset"].as_u64();
        pages += 1;
    }
    assert!(pages >= 2, "about 5 MB of records fit in one page of at most 4 MiB");
    let head = seen.len() as u64;
    assert!(head > 60, "{head}");
    assert_eq!(seen, (1..=head).collect::<Vec<_>>(), "every record once, in chain order");
}

#[test]
fn a_client_that_does_not_read_its_answer_holds_its_place_until_it_is_cut_off() {
    let mut demo = Demo::new();
    demo.configure("[tenants.demo.share]\nmax-concurrent-reads = 1\n");
    large_records(&demo);
    // A write timeout long enough for several polls to meet the held place on a loaded machine.
    let server = Server::start(&demo, &["--write-timeout-ms", "4000"]);
    // Pipelined requests for pages of about 4 MiB, none of whose answers is read: far more than
    // the connection's buffers hold, so the server's writes stop.
    let basic = base64::engine::general_purpose::STANDARD.encode(&demo.key);
    let mut stalled = connect(&server);
    let request =
        format!("GET /v1/audit?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\n\r\n");
    stalled.write_all(request.repeat(40).as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let poll = || get(&server, &demo, "/v1/audit?limit=1").0;
    // While the answers are written to a client that reads none of them, they hold the tenant's
    // one place for reads...
    let mut statuses = Vec::new();
    while statuses.iter().rev().take_while(|s| **s == 429).count() < 3 {
        assert!(std::time::Instant::now() < deadline, "the answers being written held no place: {statuses:?}");
        statuses.push(poll());
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...until, its writes stuck for longer than the write timeout, the client is cut off.
    while poll() != 200 {
        assert!(std::time::Instant::now() < deadline, "the stalled client was never cut off: {statuses:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // (A place given back between two answers the buffers took whole is taken again by the next
    // answer, which then stalls: time for it to be cut off too.)
    std::thread::sleep(Duration::from_secs(5));
    // Cut off: what reaches it is what the buffers held when it was, far from all 40 answers.
    let (mut received, mut buf) = (0usize, vec![0u8; 1 << 16]);
    loop {
        assert!(std::time::Instant::now() < deadline, "the stalled connection was left open");
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    assert!(received < 40 * (4 << 20) / 2, "the client that read nothing got {received} bytes: it was never cut off");
    healthy(&server);
}
