//! A test program, not a store: an `artifact-provider` component that also
//! imports `wasi:sockets`, to open TCP connections of its own past the
//! host's request policy. No store grants sockets, so the host must refuse
//! to start it and name the imports it did not expect.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "artifact-provider",
        with: {
            "wasi:http/types@0.2.12": wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasi::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasi::io::error,
            "wasi:io/poll@0.2.12": wasi::io::poll,
            "wasi:io/streams@0.2.12": wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
        },
    });

    // Native builds (clippy) skip the export, as in `guest/`.
    #[cfg(target_arch = "wasm32")]
    use super::Sockets;
    #[cfg(target_arch = "wasm32")]
    export!(Sockets);
}

use bindings::artifact_store::provider::types as wit;
use bindings::exports::artifact_store::provider::provider::Guest;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Sockets;

impl Guest for Sockets {
    fn fetch(_request: wit::FetchRequest) -> Result<wit::Artifact, wit::Error> {
        Err(open_socket())
    }

    fn resolve(
        _reference: String,
        _access: wit::StoreAccess,
    ) -> Result<wit::Descriptor, wit::Error> {
        Err(open_socket())
    }

    fn push(_request: wit::PushRequest) -> Result<wit::Descriptor, wit::Error> {
        Err(open_socket())
    }
}

/// Creates a TCP socket on the instance's network, which is what pulls the
/// `wasi:sockets` imports into the component.
fn open_socket() -> wit::Error {
    use wasi::sockets::network::IpAddressFamily;
    use wasi::sockets::{instance_network, tcp_create_socket};

    let _network = instance_network::instance_network();
    match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(_socket) => wit::Error::Other("a socket was created".into()),
        Err(code) => wit::Error::Denied(format!("no socket: {code:?}")),
    }
}
