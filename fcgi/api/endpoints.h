// Every endpoint group of the API, registered on one router at worker start.
#pragma once

#include "fcgi/api/service.h"
#include "fcgi/http/router.h"

namespace devserver {

// A handler of the form every group writes, bound to the worker's service for the router.
using ServiceHandlerFn = Status (*)(const ServiceInfo&, const Request&, Response*);
inline Handler ServiceHandler(const ServiceInfo& service, ServiceHandlerFn fn) {
  return [&service, fn](const Request& req, Response* resp) { return fn(service, req, resp); };
}

// Registers each endpoint group below. A new group is a new Register* function and a line
// in RegisterAllEndpoints; the router itself never changes.
void RegisterAllEndpoints(const ServiceInfo& service, Router* router);

void RegisterHealthEndpoints(const ServiceInfo& service, Router* router);
void RegisterIndexEndpoints(const ServiceInfo& service, Router* router);
void RegisterDebugEndpoints(const ServiceInfo& service, Router* router);
void RegisterStagingEndpoints(const ServiceInfo& service, Router* router);
void RegisterSymbolsEndpoints(const ServiceInfo& service, Router* router);
void RegisterAutotestEndpoints(const ServiceInfo& service, Router* router);
void RegisterBuildsEndpoints(const ServiceInfo& service, Router* router);
void RegisterOmahaEndpoints(const ServiceInfo& service, Router* router);
void RegisterUpdateEndpoints(const ServiceInfo& service, Router* router);
void RegisterStatusEndpoints(const ServiceInfo& service, Router* router);
void RegisterMetricsEndpoints(const ServiceInfo& service, Router* router);
void RegisterPeerEndpoints(const ServiceInfo& service, Router* router);

}  // namespace devserver
