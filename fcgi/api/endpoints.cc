#include "fcgi/api/endpoints.h"

namespace devserver {

void RegisterAllEndpoints(const ServiceInfo& service, Router* router) {
  RegisterHealthEndpoints(service, router);
  RegisterStagingEndpoints(service, router);
  RegisterSymbolsEndpoints(service, router);
  RegisterAutotestEndpoints(service, router);
  RegisterBuildsEndpoints(service, router);
  RegisterOmahaEndpoints(service, router);
  RegisterUpdateEndpoints(service, router);
  RegisterStatusEndpoints(service, router);
  RegisterMetricsEndpoints(service, router);
  RegisterPeerEndpoints(service, router);
  if (service.config.test_endpoints) RegisterDebugEndpoints(service, router);
  // The index lists what is registered before it, so it comes last.
  RegisterIndexEndpoints(service, router);
}

}  // namespace devserver
