// The payload artifacts, one Resolve/Install pair each; PayloadsPlugin only dispatches.
//
// Install gets no object list from the core, so each Install resolves ctx.folder() again:
// the same folder snapshot yields the same objects Resolve gave the core to fetch.
#pragma once

#include <string>
#include <vector>

#include "devserver/plugin.h"

namespace devserver::payloads {

inline constexpr const char* kFullPayload = "full_payload";
inline constexpr const char* kDeltaPayloads = "delta_payloads";
inline constexpr const char* kStateful = "stateful";

Status ResolveFullPayload(const plugin::BuildFolder& folder, std::vector<std::string>* objects);
Status InstallFullPayload(plugin::InstallContext& ctx);

Status ResolveStateful(const plugin::BuildFolder& folder, std::vector<std::string>* objects);
Status InstallStateful(plugin::InstallContext& ctx);

Status ResolveDeltaPayloads(const plugin::BuildFolder& folder, std::vector<std::string>* objects);
Status InstallDeltaPayloads(plugin::InstallContext& ctx);

}  // namespace devserver::payloads
