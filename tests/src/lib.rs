//! Test support: brokers, certificates and a platform-side client.
