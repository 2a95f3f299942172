// Paging for objects.list: turns a sorted name list into one page of items and prefixes, the way
// GCS does it (items and collapsed prefixes share one lexicographic sequence and one page size).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace devserver::fakegcs {

struct ListRequest {
  std::string prefix;
  std::string delimiter;
  size_t max_results = 1000;
  std::string page_token;  // Opaque; empty for the first page.
};

struct ListPage {
  std::vector<std::string> items;     // Object names.
  std::vector<std::string> prefixes;  // Collapsed "directories", each ending in the delimiter.
  std::string next_page_token;        // Empty on the last page.
};

// nullopt when the page token is not one this fake issued.
std::optional<ListPage> MakeListPage(const std::vector<std::string>& sorted_names,
                                     const ListRequest& request);

}  // namespace devserver::fakegcs
