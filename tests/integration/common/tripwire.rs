//! A loopback listener that nothing may connect to: a test names it where a
//! store would be and checks afterwards that no connection arrived.

use std::io::ErrorKind;
use std::net::TcpListener;

pub struct Tripwire {
    listener: TcpListener,
}

impl Default for Tripwire {
    fn default() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind tripwire");
        listener
            .set_nonblocking(true)
            .expect("nonblocking tripwire");
        Tripwire { listener }
    }
}

impl Tripwire {
    pub fn new() -> Tripwire {
        Tripwire::default()
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.listener
            .local_addr()
            .expect("tripwire address")
            .to_string()
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().expect("tripwire address").port()
    }

    /// Panics if anything has connected since the tripwire was laid.
    pub fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("tripwire: {e}"),
            Ok((_, peer)) => {
                panic!("{peer} connected, but the reference should have been refused first")
            }
        }
    }
}
