// What an AOTInductor package was compiled for (torch version, machine, CPU flags), read from its metadata, and
// the check that this program's LibTorch and this CPU can run it: rnnexport/model/aoti_target.py in C++.
// No LibTorch here.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace embed {

struct AotiTarget {
  std::string torch_version;           // public version, e.g. 2.13.0
  std::string machine;                 // uname -m, e.g. x86_64
  std::string cpu_isa;                 // Inductor's vector ISA, e.g. "avx512 avx512_vnni amx_tile"
  std::vector<std::string> cpu_flags;  // the /proc/cpuinfo flags its code needs
};

// The rnnexport_* entries of a package's metadata; throws ArtifactError naming source when they are missing.
AotiTarget target_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source);

// This machine's name (uname -m) and the flags of its first processor in /proc/cpuinfo (nullopt if unreadable).
std::string this_machine();
std::optional<std::set<std::string>> machine_cpu_flags(const std::string& cpuinfo = "/proc/cpuinfo");

// Throws ArtifactError, one line, unless a package compiled for `target` can run with LibTorch `torch_version` on
// `machine` with `cpu_flags` (nullopt: not checked); the line says what differs and how to rebuild the package.
void check_aoti_target(const AotiTarget& target, const std::string& source, const std::string& torch_version,
                       const std::string& machine, const std::optional<std::set<std::string>>& cpu_flags);

}  // namespace embed
