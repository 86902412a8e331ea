//! warren-mgmt
