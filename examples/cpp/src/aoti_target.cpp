#include "aoti_target.h"

#include <sys/utsname.h>

#include <fstream>
#include <sstream>

#include "artifacts.h"

namespace embed {

AotiTarget target_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source) {
  auto get = [&](const std::string& key) -> std::string {
    auto found = metadata.find("rnnexport_" + key);
    if (found == metadata.end()) {
      throw ArtifactError("'" + source + "' records no compile target (torch version, machine, CPU flags); " +
                          "rebuild it with `rnnexport export --aoti`");
    }
    return found->second;
  };
  AotiTarget target{get("torch_version"), get("machine"), get("cpu_isa"), {}};
  std::istringstream flags(get("cpu_flags"));
  for (std::string flag; flags >> flag;) target.cpu_flags.push_back(flag);
  return target;
}

std::string this_machine() {
  struct utsname name {};
  return ::uname(&name) == 0 ? std::string(name.machine) : std::string("unknown");
}

std::optional<std::set<std::string>> machine_cpu_flags(const std::string& cpuinfo) {
  std::ifstream in(cpuinfo);
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key != "flags" && key != "Features") continue;
    std::set<std::string> flags;
    std::istringstream words(line.substr(colon + 1));
    for (std::string flag; words >> flag;) flags.insert(flag);
    return flags;
  }
  return std::nullopt;
}

void check_aoti_target(const AotiTarget& target, const std::string& source, const std::string& torch_version,
                       const std::string& machine, const std::optional<std::set<std::string>>& cpu_flags) {
  const std::string compiled_for = "'" + source + "' was compiled by torch " + target.torch_version + " for " +
                                   target.machine + " (" + target.cpu_isa + ")";
  const std::string rebuild = "; rebuild it on this machine with `rnnexport export --aoti` (make aoti)";
  const std::string version = torch_version.substr(0, torch_version.find('+'));
  if (version != target.torch_version) {
    throw ArtifactError(compiled_for + ", but this program's LibTorch is " + version + rebuild);
  }
  if (machine != target.machine) throw ArtifactError(compiled_for + ", but this machine is " + machine + rebuild);
  if (!cpu_flags) return;
  std::string missing;
  for (const auto& flag : target.cpu_flags) {
    if (!cpu_flags->count(flag)) missing += (missing.empty() ? "" : " ") + flag;
  }
  if (!missing.empty()) throw ArtifactError(compiled_for + ", but this CPU lacks " + missing + rebuild);
}

}  // namespace embed
