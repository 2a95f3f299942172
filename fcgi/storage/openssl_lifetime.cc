#include "fcgi/storage/openssl_lifetime.h"

#include <Poco/Crypto/OpenSSLInitializer.h>

#include <new>

namespace devserver::storage {

void HoldOpenSsl() {
  // Built in static storage and never destroyed: at exit the count must not reach zero
  // either, while other threads may still hash (and there is no heap block to report as a
  // leak).
  alignas(Poco::Crypto::OpenSSLInitializer) static unsigned char
      storage[sizeof(Poco::Crypto::OpenSSLInitializer)];
  static const auto* const held = new (storage) Poco::Crypto::OpenSSLInitializer();
  (void)held;
}

}  // namespace devserver::storage
