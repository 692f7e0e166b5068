//! A minimal HTTP/1.1 client over one keep-alive connection, for tests and benchmarks
//! that load `theater run --http` (no client library in between: what is measured is
//! the server).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One keep-alive connection.
#[derive(Debug)]
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream: BufReader::new(stream),
        })
    }

    /// Sends a request and reads the whole response; returns its status and body. An
    /// error is a connection that failed or closed (a server that was killed).
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let s = self.stream.get_mut();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )?;
        s.write_all(body)?;
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("bad content-length {value:?}")))?;
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, body))
    }
}

/// A server process started by [`serve`].
#[derive(Debug)]
pub struct Served {
    /// The process, its standard error drained on a thread.
    pub child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The lines it printed on standard error before the one that named the address.
    pub before: Vec<String>,
}

/// Spawns `cmd` (a `theater run --http`) with standard error piped, reads its lines until
/// `address` finds the listening address in one, then keeps draining standard error on
/// a thread so the server never blocks on it. Panics, with what the process printed, if
/// it exits before naming an address.
// The child is handed to the caller, who waits for it.
#[allow(clippy::zombie_processes)]
pub fn serve(cmd: &mut std::process::Command, address: fn(&str) -> Option<SocketAddr>) -> Served {
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let mut stderr = BufReader::new(child.stderr.take().expect("standard error is piped"));
    let mut before = Vec::new();
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).unwrap_or(0);
        if read == 0 {
            let status = child.wait().ok();
            panic!("{cmd:?} ended ({status:?}) before serving; it printed {before:#?}");
        }
        if let Some(addr) = address(&line) {
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            return Served {
                child,
                addr,
                before,
            };
        }
        before.push(line.trim_end().to_string());
    }
}
