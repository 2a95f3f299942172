#include "fcgi/http/router.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace devserver {
namespace {

Endpoint Make(const std::string& path, const std::string& body) {
  return {path, {"GET"}, "summary", "doc", [body](const Request&, Response* r) {
            *r = Response::Text(body);
            return Status::Ok();
          }};
}

Request Get(const std::string& path, const std::string& method = "GET") {
  Request r;
  r.method = method;
  r.path = path;
  return r;
}

TEST(RouterTest, ExactMatchBeatsPrefixAndLongestPrefixWins) {
  Router router;
  router.Add(Make("/doc/", "doc"));
  router.Add(Make("/doc/special", "special"));
  router.Add(Make("/update/", "update"));
  router.Add(Make("/update/x/", "update-x"));
  EXPECT_EQ(router.Dispatch(Get("/doc/special")).body, "special");
  EXPECT_EQ(router.Dispatch(Get("/doc/other")).body, "doc");
  EXPECT_EQ(router.Dispatch(Get("/update/x/y")).body, "update-x");
  EXPECT_EQ(router.Dispatch(Get("/update/z")).body, "update");
  EXPECT_EQ(router.Dispatch(Get("/docs")).status, 404);  // a prefix matches whole segments
}

TEST(RouterTest, UnknownPathIs404WithAReason) {
  Router router;
  router.Add(Make("/check_health", "ok"));
  Response r = router.Dispatch(Get("/nope"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no endpoint /nope");
}

TEST(RouterTest, WrongMethodIs405AndHeadFollowsGet) {
  Router router;
  router.Add(Make("/check_health", "ok"));
  Response r = router.Dispatch(Get("/check_health", "POST"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, "method POST not allowed for /check_health; use GET");
  EXPECT_EQ(router.Dispatch(Get("/check_health", "HEAD")).status, 200);
}

TEST(RouterTest, HandlerErrorsAndExceptionsBecomeResponses) {
  Router router;
  router.Add({"/bad", {"GET"}, "", "", [](const Request&, Response*) {
                return Status::InvalidArgument("archive_url is required");
              }});
  router.Add({"/throws", {"GET"}, "", "", [](const Request&, Response*) -> Status {
                throw std::runtime_error("boom");
              }});
  Response bad = router.Dispatch(Get("/bad"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "archive_url is required");
  Response thrown = router.Dispatch(Get("/throws"));
  EXPECT_EQ(thrown.status, 500);
  EXPECT_EQ(thrown.body, "internal error: boom");
}

TEST(RouterTest, NamesForDoc) {
  Router router;
  router.Add(Make("/check_health", "ok"));
  router.Add(Make("/doc/", "doc"));
  ASSERT_NE(router.FindByName("check_health"), nullptr);
  EXPECT_EQ(router.FindByName("doc")->path, "/doc/");
  EXPECT_EQ(router.FindByName("nope"), nullptr);
}

}  // namespace
}  // namespace devserver
