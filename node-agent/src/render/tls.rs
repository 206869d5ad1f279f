//! The TLS profile every daemon of the node offers: Mozilla's "intermediate" configuration
//! (server-side TLS guidelines 5.7), for nginx, Postfix and Dovecot alike. TLS 1.2 and 1.3
//! only; for TLS 1.2, forward-secret AEAD suites only; the client's order wins (every suite
//! here is strong, and clients know their own hardware: AES or ChaCha20). TLS 1.3's suites are
//! OpenSSL's defaults, all of them strong.

/// The oldest protocol offered, as Dovecot's `ssl_min_protocol` and Postfix's `>=` name it.
pub const MIN_PROTOCOL: &str = "TLSv1.2";

/// nginx's `ssl_protocols`.
pub const NGINX_PROTOCOLS: &str = "TLSv1.2 TLSv1.3";

/// The TLS 1.2 suites, in OpenSSL's syntax.
pub const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:\
ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:\
DHE-RSA-CHACHA20-POLY1305";
