// Poco 1.11 counts live Poco::Crypto::OpenSSLInitializer objects (every DigestEngine, RSAKey and
// RSADigestEngine holds one) and tears OpenSSL's lock array down whenever the count reaches
// zero. Two threads crossing zero at once free that array twice: a stager's SIGSEGV in
// ~DigestEngine while another stager hashed. Holding one initializer for the life of the process
// keeps the count above zero, so nothing is ever torn down while threads run.
#pragma once

namespace devserver::storage {

// Call before constructing any Poco::Crypto object; cheap after the first call.
void HoldOpenSsl();

}  // namespace devserver::storage
