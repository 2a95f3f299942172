// The order of build names that /latestbuild uses: versions, not strings.
#pragma once

#include <string>
#include <vector>

namespace devserver {

// <0, 0 or >0 as build `a` is older than, the same as or newer than `b`. Names are compared
// run by run: digit runs as numbers ("R19" < "R100", "2003.0.0" > "1999.0.0"), other runs as
// bytes. So R19-2003.0.0-a1-b1819 > R19-1999.0.0-a1-b1800 > R18-9999.0.0-a1-b1.
int CompareBuildVersions(const std::string& a, const std::string& b);

// The newest of `builds` (by CompareBuildVersions) whose name starts with "<milestone>-"
// when `milestone` is given ("R19"); empty when none qualifies.
std::string NewestBuild(const std::vector<std::string>& builds, const std::string& milestone);

// The OS version a build's name carries, as an update check reports it: "15633.0.0" from
// "R119-15633.0.0", "2003.0.0" from "R19-2003.0.0-a1-b1819"; a name without the milestone
// prefix up to its first '-'.
std::string BuildOsVersion(const std::string& build);

}  // namespace devserver
