//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`: one request per connection, plain HTTP.
//!
//! Why not a crate: `ureq` 3 with `default-features = false` still brings ureq-proto, http,
//! httparse, utf-8, percent-encoding and log, and its defaults (proxy taken from the environment,
//! HTTP status codes turned into errors) would need overriding. warrenctl sends a handful of
//! requests per run to one management listener, without TLS; what it needs from HTTP/1.1 is a
//! request line, headers, a body with Content-Length, and responses delimited by Content-Length,
//! by chunked transfer coding or by the server closing the connection. That is this file, with
//! its tests against a local listener below.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where requests go and how long one may take.
#[derive(Debug, Clone)]
pub struct HttpClient {
    host: String,
    port: u16,
    timeout: Duration,
}

/// One request; `path_and_query` starts with `/`.
#[derive(Debug, Clone)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: Vec<(&'a str, String)>,
    /// Sent with `content-type: application/json`.
    pub json_body: Option<Vec<u8>>,
}

/// A response: status code and the (de-chunked) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection refused")]
    ConnectionRefused,
    #[error("timed out after {0} seconds")]
    TimedOut(u64),
    #[error("cannot resolve host {0}")]
    UnresolvableHost(String),
    #[error("{0}")]
    Io(io::Error),
    #[error("malformed HTTP response: {0}")]
    MalformedResponse(String),
}

impl From<io::Error> for HttpError {
    fn from(error: io::Error) -> Self {
        HttpError::Io(error)
    }
}

/// Longest status line or header line accepted, so a wrong port cannot make us buffer forever.
const MAX_HEADER_LINE_BYTES: usize = 64 * 1024;

impl HttpClient {
    pub fn new(host: &str, port: u16, timeout: Duration) -> Self {
        HttpClient {
            host: host.to_string(),
            port,
            timeout,
        }
    }

    pub fn send(&self, request: &HttpRequest<'_>) -> Result<HttpResponse, HttpError> {
        let stream = self.connect()?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let timeout_seconds = self.timeout.as_secs();
        let outcome = self.exchange(stream, request);
        outcome.map_err(|error| match error {
            HttpError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                HttpError::TimedOut(timeout_seconds)
            }
            other => other,
        })
    }

    fn connect(&self) -> Result<TcpStream, HttpError> {
        let addresses: Vec<_> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|_| HttpError::UnresolvableHost(self.host.clone()))?
            .collect();
        let mut last_error = HttpError::UnresolvableHost(self.host.clone());
        for address in addresses {
            match TcpStream::connect_timeout(&address, self.timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    last_error = HttpError::ConnectionRefused
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    last_error = HttpError::TimedOut(self.timeout.as_secs())
                }
                Err(e) => last_error = HttpError::Io(e),
            }
        }
        Err(last_error)
    }

    fn exchange(
        &self,
        mut stream: TcpStream,
        request: &HttpRequest<'_>,
    ) -> Result<HttpResponse, HttpError> {
        stream.write_all(&self.encode_request(request))?;
        stream.flush()?;
        read_response(BufReader::new(stream))
    }

    fn encode_request(&self, request: &HttpRequest<'_>) -> Vec<u8> {
        // No Accept header: RabbitMQ 3.10 answers DELETE …/contents with 406 to
        // `Accept: application/json`, and every API resource answers JSON anyway.
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: warrenctl/{}\r\nConnection: close\r\n",
            request.method,
            request.path_and_query,
            host_header(&self.host, self.port),
            env!("CARGO_PKG_VERSION"),
        );
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let body: &[u8] = request.json_body.as_deref().unwrap_or_default();
        if request.json_body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if request.json_body.is_some() || request.method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

fn host_header(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// How the response body ends.
enum BodyFraming {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

fn read_response(mut reader: impl BufRead) -> Result<HttpResponse, HttpError> {
    loop {
        let status = read_status_line(&mut reader)?;
        let headers = read_headers(&mut reader)?;
        // 1xx responses (100 Continue) precede the real one.
        if (100..200).contains(&status) {
            continue;
        }
        let framing = body_framing(status, &headers)?;
        let body = read_body(&mut reader, framing)?;
        return Ok(HttpResponse { status, body });
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_HEADER_LINE_BYTES as u64)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(HttpError::MalformedResponse(
            "connection closed before the response was complete".into(),
        ));
    }
    if !line.ends_with(b"\n") {
        let why = if line.len() >= MAX_HEADER_LINE_BYTES {
            "header line too long"
        } else {
            "connection closed before the response was complete"
        };
        return Err(HttpError::MalformedResponse(why.into()));
    }
    let text = String::from_utf8_lossy(&line);
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

fn read_status_line(reader: &mut impl BufRead) -> Result<u16, HttpError> {
    let line = read_line(reader)?;
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::MalformedResponse(format!(
            "not an HTTP/1.x status line: {line:?}"
        )));
    }
    parts
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| HttpError::MalformedResponse(format!("bad status line: {line:?}")))
}

fn read_headers(reader: &mut impl BufRead) -> Result<Vec<(String, String)>, HttpError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| HttpError::MalformedResponse(format!("bad header line: {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn body_framing(status: u16, headers: &[(String, String)]) -> Result<BodyFraming, HttpError> {
    if status == 204 || status == 304 {
        return Ok(BodyFraming::Empty);
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(coding) = header("transfer-encoding") {
        if coding.to_ascii_lowercase().contains("chunked") {
            return Ok(BodyFraming::Chunked);
        }
    }
    match header("content-length") {
        Some(length) => length
            .parse::<usize>()
            .map(BodyFraming::Length)
            .map_err(|_| HttpError::MalformedResponse(format!("bad content-length {length:?}"))),
        None => Ok(BodyFraming::UntilClose),
    }
}

fn read_body(reader: &mut impl BufRead, framing: BodyFraming) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    match framing {
        BodyFraming::Empty => {}
        BodyFraming::Length(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).map_err(truncated)?;
        }
        BodyFraming::UntilClose => {
            reader.read_to_end(&mut body)?;
        }
        BodyFraming::Chunked => loop {
            let size_line = read_line(reader)?;
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                HttpError::MalformedResponse(format!("bad chunk size {size_line:?}"))
            })?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(reader)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).map_err(truncated)?;
            read_line(reader)?; // the CRLF after the chunk data
        },
    }
    Ok(body)
}

fn truncated(error: io::Error) -> HttpError {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        HttpError::MalformedResponse("connection closed in the middle of the body".into())
    } else {
        HttpError::Io(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// Serves one connection with `response` and closes it; the thread returns what the client sent.
    fn serve_once(response: &'static [u8]) -> (u16, thread::JoinHandle<String>) {
        let (port, handle) = serve_once_keeping_socket(response);
        (
            port,
            thread::spawn(move || handle.join().expect("server").0),
        )
    }

    /// Like `serve_once` but the socket stays open until the test drops the thread's result.
    fn serve_once_keeping_socket(
        response: &'static [u8],
    ) -> (u16, thread::JoinHandle<(String, TcpStream)>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(socket.try_clone().expect("clone"));
            let mut request = String::new();
            let mut content_length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read");
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = v.trim().parse().expect("length");
                }
                request.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; content_length];
            reader.read_exact(&mut body).expect("body");
            request.push_str(&String::from_utf8_lossy(&body));
            socket.write_all(response).expect("write");
            (request, socket)
        });
        (port, handle)
    }

    fn client(port: u16) -> HttpClient {
        HttpClient::new("127.0.0.1", port, Duration::from_secs(5))
    }

    fn get(path: &str) -> HttpRequest<'_> {
        HttpRequest {
            method: "GET",
            path_and_query: path,
            headers: vec![],
            json_body: None,
        }
    }

    #[test]
    fn content_length_body_is_read_exactly_even_if_the_server_keeps_the_connection() {
        let (port, server) =
            serve_once_keeping_socket(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]");
        let response = client(port).send(&get("/api/users")).expect("response");
        assert_eq!(
            response,
            HttpResponse {
                status: 200,
                body: b"[]".to_vec()
            }
        );
        let (request, _open_socket) = server.join().expect("server");
        assert!(
            request.starts_with("GET /api/users HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Connection: close\r\n"), "{request}");
        assert!(
            !request.contains("Accept"),
            "purge answers 406 to an Accept header: {request}"
        );
    }

    #[test]
    fn chunked_body_is_reassembled() {
        let (port, _server) = serve_once(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n[{\"\r\nB;ext=1\r\nname\":\"q1\"}\r\n1\r\n]\r\n0\r\n\r\n",
        );
        let response = client(port).send(&get("/api/queues")).expect("response");
        assert_eq!(
            String::from_utf8_lossy(&response.body),
            r#"[{"name":"q1"}]"#
        );
    }

    #[test]
    fn body_without_length_runs_until_close_and_204_has_none() {
        let (port, _s) = serve_once(b"HTTP/1.0 200 OK\r\n\r\n{\"a\":1}");
        let response = client(port).send(&get("/x")).expect("response");
        assert_eq!(response.body, b"{\"a\":1}");

        let (port, _s) = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n");
        let response = client(port).send(&get("/x")).expect("response");
        assert_eq!((response.status, response.body.len()), (204, 0));
    }

    #[test]
    fn json_body_and_extra_headers_are_sent_with_length_and_type() {
        let (port, server) = serve_once(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
        let request = HttpRequest {
            method: "PUT",
            path_and_query: "/api/vhosts/ctl-v",
            headers: vec![("X-Reason", "bye now".to_string())],
            json_body: Some(b"{}".to_vec()),
        };
        let response = client(port).send(&request).expect("response");
        assert_eq!(response.status, 201);
        let sent = server.join().expect("server");
        assert!(sent.contains("X-Reason: bye now\r\n"), "{sent}");
        assert!(
            sent.contains("Content-Type: application/json\r\n"),
            "{sent}"
        );
        assert!(sent.contains("Content-Length: 2\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\n{}"), "{sent}");
    }

    #[test]
    fn delete_without_body_still_says_content_length_zero() {
        let (port, server) = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n");
        let request = HttpRequest {
            method: "DELETE",
            path_and_query: "/api/users/x",
            headers: vec![],
            json_body: None,
        };
        client(port).send(&request).expect("response");
        assert!(server
            .join()
            .expect("server")
            .contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn refused_connection_is_reported_as_such() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let error = client(port).send(&get("/")).expect_err("nobody listens");
        assert!(matches!(error, HttpError::ConnectionRefused), "{error:?}");
    }

    #[test]
    fn a_non_http_peer_is_a_malformed_response_not_a_hang() {
        let (port, _s) = serve_once(b"AMQP\x00\x00\x09\x01");
        let error = client(port).send(&get("/")).expect_err("not http");
        assert!(
            matches!(error, HttpError::MalformedResponse(_)),
            "{error:?}"
        );
    }

    #[test]
    fn truncated_body_is_an_error() {
        let (port, _s) = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n[]");
        let error = client(port).send(&get("/")).expect_err("short body");
        assert!(
            matches!(error, HttpError::MalformedResponse(_)),
            "{error:?}"
        );
    }
}
