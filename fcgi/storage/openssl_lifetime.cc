#include "fcgi/storage/openssl_lifetime.h"

#include <Poco/Crypto/OpenSSLInitializer.h>

namespace devserver::storage {

void HoldOpenSsl() {
  // Never destroyed: at exit the count must not reach zero either, while detached threads
  // may still hash.
  static const auto* const held = new Poco::Crypto::OpenSSLInitializer();
  (void)held;
}

}  // namespace devserver::storage
