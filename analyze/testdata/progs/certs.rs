// certs reads the CA bundle, as a Rust TLS client on the system's roots would.
use std::fs;

fn main() {
    match fs::read("/etc/ssl/certs/ca-certificates.crt") {
        Ok(b) => println!("CA bundle of {} bytes", b.len()),
        Err(e) => println!("no CA bundle: {}", e),
    }
}
