// The answer to an Omaha update request, in the request's dialect.
//
// update_engine rejects an answer (the update check fails) for small things: an app without
// <updatecheck> where it asked for one, a codebase without a trailing '/', a hash in the wrong
// encoding, a delta announced as full, a wrong MetadataSize. So every attribute a client of
// any era reads is written: package/@hash_sha256 (hex, read since 2017), action/@sha256
// (base64, read 2012-2017), package/@hash (base64 SHA-1), package/@fp, and the postinstall
// action's IsDeltaPayload and MetadataSize (left out for a file without a payload header).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/omaha/update_request.h"

namespace devserver::omaha {

// A payload offered to an app: where it is and what the device checks it against.
struct Offer {
  std::string base_url;  // the payload's directory, ending in '/': http://host/static/<label>/
  std::string name = "update.gz";
  int64_t size = 0;
  std::string sha1_base64;
  std::string sha256_base64;
  std::string sha256_hex;
  int64_t metadata_size = -1;  // -1: no payload header, the attribute is left out
  bool is_delta = false;
  std::string version;  // the build's OS version: "15633.0.0"
};

// What one requested app gets: the update, or "noupdate" (only meaningful when the app asked
// for an update check; an app that did not gets no <updatecheck>).
struct AppAnswer {
  bool update = false;
  Offer offer;  // when `update`
};

// The response document for `request`, one <app> per requested app, in order; `answers`
// has one entry per app. `now` (Unix seconds) sets <daystart>.
std::string RenderUpdateResponse(const UpdateRequest& request,
                                 const std::vector<AppAnswer>& answers, int64_t now);

}  // namespace devserver::omaha
