//! Tests of the decryption core.
