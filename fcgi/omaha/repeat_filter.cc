#include "fcgi/omaha/repeat_filter.h"

namespace devserver::omaha {

bool RepeatFilter::Admit(const std::string& ip, const std::string& key, int64_t at_us) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_.find(ip);
  if (it != last_.end() && it->second.key == key && at_us - it->second.at_us < window_us_ &&
      at_us >= it->second.at_us) {
    return false;
  }
  if (it == last_.end() && last_.size() >= max_clients_) last_.clear();
  last_[ip] = Last{key, at_us};
  return true;
}

}  // namespace devserver::omaha
