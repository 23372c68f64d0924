//! Connections to a real `provhost serve` from a raw TCP client on loopback: a client that holds
//! its headers open, a connection left idle, and a body trickled byte by byte are each cut off,
//! while well-behaved requests go on being answered.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
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
